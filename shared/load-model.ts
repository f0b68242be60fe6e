// Load and power as configurable expressions over the metrics servers report (seed 004:
// "there's no reason why you couldn't outsource this expression to a config file").
// Expressions are compiled by filtrex: arithmetic and functions only, no access to anything else.
import { compileExpression } from 'filtrex';

/** Metric names with their value when a server does not report them. */
export const AREA_METRICS = { players: 0, mass: 0, projectiles: 0 } as const;
export const SERVER_METRICS = { ram: 1, cpu: 1, cores: 1, ping: 1 } as const;

type Formula = (metrics: Record<string, number>) => number;

function compile(source: string, defaults: Record<string, number>): Formula {
  const fn = compileExpression(source) as (data: object) => unknown;
  const check = fn(defaults);
  if (check instanceof Error) throw new Error(`${source}: ${check.message}`);
  return (metrics) => {
    const v = fn({ ...defaults, ...metrics });
    return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0;
  };
}

export class LoadModel {
  private readonly load: Formula;
  private readonly power: Formula;

  /** Throws with a readable message when a formula does not compile or names unknown metrics. */
  constructor(loadFormula: string, powerFormula: string) {
    this.load = compile(loadFormula, AREA_METRICS);
    this.power = compile(powerFormula, SERVER_METRICS);
  }

  areaLoad(metrics: Record<string, number>): number {
    return this.load(metrics);
  }

  serverPower(metrics: Record<string, number>): number {
    return this.power(metrics);
  }
}
