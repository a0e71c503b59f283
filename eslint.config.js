import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'dist-bench/**', 'node_modules/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true, argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/planner/**/*.ts', 'src/mesh/**/*.ts'],
    rules: {
      // The planner and the mesh's decisions are pure: time, randomness and I/O come in as parameters.
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'net', 'http', 'https', 'child_process', 'os'],
              message: 'src/planner is pure: no I/O modules.',
            },
            {
              group: [
                'dockerode',
                'ssh2',
                'simple-git',
                'chokidar',
                '../executor/*',
                '../watch/*',
                '../cli/*',
              ],
              message: 'src/planner is pure: no I/O modules.',
            },
          ],
        },
      ],
      'no-restricted-globals': ['error', 'process', 'setTimeout', 'setInterval', 'fetch'],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'Time comes in options.now.' },
        { object: 'Math', property: 'random', message: 'The planner is deterministic.' },
      ],
    },
  },
);
