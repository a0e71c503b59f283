import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/watch/metrics.js';
import type { Metrics } from '../../src/watch/metrics.js';

/** heal's own samples, without HELP/TYPE lines or the process metrics. */
async function samples(metrics: Metrics): Promise<string[]> {
  return (await metrics.text()).split('\n').filter((line) => line.startsWith('heal_'));
}

describe('createMetrics', () => {
  it('exposes exactly what a sequence of calls says, old services, hosts and revisions gone', async () => {
    const metrics = createMetrics();
    metrics.specLoad('blog', true);
    metrics.setRevision('blog', 'a1b2c3d');
    metrics.setServices('blog', [
      { service: 'web', desired: 3, running: 2, healthy: 1, crashLooping: true, rollout: null },
      { service: 'worker', desired: 1, running: 1, healthy: 1, crashLooping: false, rollout: null },
    ]);
    metrics.setHosts('blog', [
      { name: 'h1', state: 'up' },
      { name: 'h2', state: 'suspect' },
      { name: 'h3', state: 'up' },
    ]);
    metrics.countAction('blog', 'pull', 'done');
    metrics.countAction('blog', 'replace', 'done');
    metrics.countAction('blog', 'replace', 'done');
    metrics.countAction('blog', 'start', 'failed');
    metrics.countHeal('blog', 'crashed');
    metrics.observeReconcile('blog', 'waiting', 0.3);
    // The next round: a new revision, worker gone from the spec, h2 down, h3 no longer listed.
    metrics.specLoad('blog', false);
    metrics.specLoad('blog', true);
    metrics.setRevision('blog', 'e4f5a6b');
    metrics.setServices('blog', [
      {
        service: 'web',
        desired: 3,
        running: 3,
        healthy: 3,
        crashLooping: false,
        rollout: { state: 'rolled-back' },
      },
    ]);
    metrics.setHosts('blog', [
      { name: 'h1', state: 'up' },
      { name: 'h2', state: 'down' },
    ]);
    metrics.countHeal('blog', 'host_down');
    metrics.countHeal('blog', 'host_down');
    metrics.observeReconcile('blog', 'converged', 42);
    metrics.observeReconcile('blog', 'rolled_back', 0.2);

    const histogram = (outcome: string, le: (bound: number) => number, sum: number, count: number) => [
      ...[0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600].map(
        (bound) =>
          `heal_reconcile_duration_seconds_bucket{le="${bound}",stack="blog",outcome="${outcome}"} ${le(bound)}`,
      ),
      `heal_reconcile_duration_seconds_bucket{le="+Inf",stack="blog",outcome="${outcome}"} ${count}`,
      `heal_reconcile_duration_seconds_sum{stack="blog",outcome="${outcome}"} ${sum}`,
      `heal_reconcile_duration_seconds_count{stack="blog",outcome="${outcome}"} ${count}`,
    ];

    expect(await samples(metrics)).toEqual([
      'heal_replicas_desired{stack="blog",service="web"} 3',
      'heal_replicas_running{stack="blog",service="web"} 3',
      'heal_replicas_healthy{stack="blog",service="web"} 3',
      'heal_service_crashlooping{stack="blog",service="web"} 0',
      'heal_service_rolled_back{stack="blog",service="web"} 1',
      'heal_service_rollout_paused{stack="blog",service="web"} 0',
      'heal_host_up{stack="blog",host="h1"} 1',
      'heal_host_up{stack="blog",host="h2"} 0',
      'heal_host_state{stack="blog",host="h1",state="up"} 1',
      'heal_host_state{stack="blog",host="h1",state="suspect"} 0',
      'heal_host_state{stack="blog",host="h1",state="down"} 0',
      'heal_host_state{stack="blog",host="h2",state="up"} 0',
      'heal_host_state{stack="blog",host="h2",state="suspect"} 0',
      'heal_host_state{stack="blog",host="h2",state="down"} 1',
      ...histogram('waiting', (bound) => (bound >= 0.5 ? 1 : 0), 0.3, 1),
      ...histogram('converged', (bound) => (bound >= 60 ? 1 : 0), 42, 1),
      ...histogram('rolled_back', (bound) => (bound >= 0.25 ? 1 : 0), 0.2, 1),
      'heal_reconciles_total{stack="blog",outcome="converged"} 1',
      'heal_reconciles_total{stack="blog",outcome="waiting"} 1',
      'heal_reconciles_total{stack="blog",outcome="failed"} 0',
      'heal_reconciles_total{stack="blog",outcome="rolled_back"} 1',
      'heal_reconciles_total{stack="blog",outcome="paused"} 0',
      'heal_actions_total{stack="blog",kind="pull",result="done"} 1',
      'heal_actions_total{stack="blog",kind="replace",result="done"} 2',
      'heal_actions_total{stack="blog",kind="start",result="failed"} 1',
      'heal_heals_total{stack="blog",reason="crashed"} 1',
      'heal_heals_total{stack="blog",reason="unhealthy"} 0',
      'heal_heals_total{stack="blog",reason="host_down"} 2',
      'heal_heals_total{stack="blog",reason="drift"} 0',
      'heal_heals_total{stack="blog",reason="missing"} 0',
      'heal_spec_revision_info{stack="blog",revision="e4f5a6b"} 1',
      'heal_spec_load_errors_total{stack="blog"} 1',
      'heal_spec_last_load_ok{stack="blog"} 1',
    ]);
  });

  it('describes each metric with HELP and TYPE, in the Prometheus text format', async () => {
    const metrics = createMetrics();
    metrics.specLoad('blog', false);
    const text = await metrics.text();
    expect(metrics.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(text).toContain(
      [
        '# HELP heal_spec_load_errors_total Spec loads that failed.',
        '# TYPE heal_spec_load_errors_total counter',
        'heal_spec_load_errors_total{stack="blog"} 1',
        '',
        '# HELP heal_spec_last_load_ok 1 when the last spec load worked.',
        '# TYPE heal_spec_last_load_ok gauge',
        'heal_spec_last_load_ok{stack="blog"} 0',
      ].join('\n'),
    );
    const types = text.split('\n').filter((line) => line.startsWith('# TYPE heal_'));
    expect(types).toEqual([
      '# TYPE heal_replicas_desired gauge',
      '# TYPE heal_replicas_running gauge',
      '# TYPE heal_replicas_healthy gauge',
      '# TYPE heal_service_crashlooping gauge',
      '# TYPE heal_service_rolled_back gauge',
      '# TYPE heal_service_rollout_paused gauge',
      '# TYPE heal_host_up gauge',
      '# TYPE heal_host_state gauge',
      '# TYPE heal_reconcile_duration_seconds histogram',
      '# TYPE heal_reconciles_total counter',
      '# TYPE heal_actions_total counter',
      '# TYPE heal_heals_total counter',
      '# TYPE heal_spec_revision_info gauge',
      '# TYPE heal_spec_load_errors_total counter',
      '# TYPE heal_spec_last_load_ok gauge',
      '# TYPE heal_notifications_total counter',
      '# TYPE heal_host_availability gauge',
      '# TYPE heal_host_draining gauge',
      '# TYPE heal_host_condition gauge',
      '# TYPE heal_autoscale_replicas gauge',
      '# TYPE heal_autoscale_response_seconds gauge',
      '# TYPE heal_autoscale_requests_per_second gauge',
      '# TYPE heal_autoscale_cpu_cores gauge',
      '# TYPE heal_autoscale_memory_bytes gauge',
      '# TYPE heal_autoscale_changes_total counter',
    ]);
  });

  it('keeps stacks apart and starts the fixed-label counters of a new stack at zero', async () => {
    const metrics = createMetrics();
    metrics.setRevision('blog', 'a1');
    metrics.setRevision('shop', 'b2');
    metrics.setServices('blog', [
      { service: 'web', desired: 1, running: 1, healthy: 1, crashLooping: false, rollout: null },
    ]);
    metrics.setServices('shop', []);
    const lines = await samples(metrics);
    expect(lines.filter((line) => line.startsWith('heal_spec_revision_info'))).toEqual([
      'heal_spec_revision_info{stack="blog",revision="a1"} 1',
      'heal_spec_revision_info{stack="shop",revision="b2"} 1',
    ]);
    expect(lines.filter((line) => line.startsWith('heal_replicas_desired'))).toEqual([
      'heal_replicas_desired{stack="blog",service="web"} 1',
    ]);
    expect(lines).toContain('heal_reconciles_total{stack="shop",outcome="failed"} 0');
    expect(lines).toContain('heal_heals_total{stack="shop",reason="missing"} 0');
    expect(lines).toContain('heal_spec_load_errors_total{stack="shop"} 0');
  });

  it('has a registry of its own, with the process metrics, and leaves the global one alone', async () => {
    const first = createMetrics();
    const second = createMetrics();
    first.countHeal('blog', 'drift');
    expect(await samples(second)).toEqual([]);
    expect(await first.text()).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(await first.text()).toMatch(/^nodejs_heap_size_used_bytes \d/m);
    expect(await globalRegistry.metrics()).not.toContain('heal_');
  });

  it('records autoscaling decisions: the count, the figures, and each change by direction', async () => {
    const metrics = createMetrics();
    const none = { responseMs: null, requestRate: null, cpuCores: null, memoryBytes: null };
    metrics.autoscaled('blog', 'web', {
      ...none,
      replicas: 3,
      responseMs: 420,
      requestRate: 12,
      change: 'up',
    });
    metrics.autoscaled('blog', 'web', { ...none, replicas: 3, change: null });
    metrics.autoscaled('blog', 'api', {
      ...none,
      replicas: 2,
      cpuCores: 0.5,
      memoryBytes: 1024,
      change: null,
    });
    const text = await metrics.text();
    expect(text).toContain('heal_autoscale_cpu_cores{stack="blog",service="api"} 0.5');
    expect(text).toContain('heal_autoscale_memory_bytes{stack="blog",service="api"} 1024');
    expect(text).not.toContain('heal_autoscale_cpu_cores{stack="blog",service="web"}');
    expect(text).toContain('heal_autoscale_replicas{stack="blog",service="web"} 3');
    expect(text).toContain('heal_autoscale_changes_total{stack="blog",service="web",direction="up"} 1');
    expect(text).not.toContain('heal_autoscale_response_seconds{');
  });
});
