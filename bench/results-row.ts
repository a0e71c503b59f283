/** One line of the benchmark table and of bench/results/latest.json. null: the column does not apply. */
export type ResultRow = {
  readonly name: string;
  readonly heal: number | null;
  readonly swarm: number | null;
  /** The floor: the same work done straight on the engines (plain `docker run`, the local socket). */
  readonly floor: number | null;
  readonly unit: string;
  /** Other figures worth keeping beside the row (another transport, the runs behind a median). */
  readonly extra?: Readonly<Record<string, number>>;
  /** The target this row is checked against, and whether this run met it. */
  readonly target?: { readonly text: string; readonly met: boolean };
  /** Why a row has no figure: `not measured: port 80 on h1 does not answer (refused)`. Never a guess. */
  readonly note?: string;
};
