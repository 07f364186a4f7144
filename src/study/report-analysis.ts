/**
 * The numbers of a study report, computed from the raw rows alone: curves per
 * config (mean over seeds, min–max spread), final FIDs, the Gflops–FID
 * correlations of the DiT paper's Fig. 8, and the three hypotheses of
 * issue 12 decided mechanically:
 *
 * 1. final FID falls with forward Gflops: Spearman ρ ≤ −0.9 across the grid;
 * 2. at equal width and depth the smaller patch gives the lower final FID, for every size;
 * 3. adaLN-Zero has the lowest FID of the blocks at equal steps, beyond the
 *    seed spread (its worst seed below every other block's best seed).
 */
import type { SamplingRow, TrainingRow, StudyRowConfig } from "./report-rows.js";
import { CorrelationError, mean, pearson, spearman } from "./stats.js";
import { StudyError } from "./errors.js";

export type Verdict = "PASS" | "FAIL" | "UNDECIDED";

/** A hypothesis of issue 12 as it came out. */
export interface HypothesisResult {
  id: 1 | 2 | 3;
  statement: string;
  /** How the verdict is decided from the rows. */
  rule: string;
  /** UNDECIDED: the rows cannot decide it (too few configs, seeds, patches); `evidence` says why. */
  verdict: Verdict;
  /** The numbers that decide it, one sentence each. */
  evidence: string[];
}

/** One evaluation step of a config: FID over its seeds (mean, min, max). */
export interface CurvePoint {
  step: number;
  /** Mean FID over the runs (seeds) evaluated at this step. */
  fid: number;
  fidMin: number;
  fidMax: number;
  /** The runs' FIDs, in seed order. */
  fids: number[];
  /** Number of runs (seeds) at this step. */
  n: number;
  /** Mean training compute (Gflops × batch × step × 3). */
  train_compute_gflops: number;
}

/** One model config of a training study, its runs (seeds) merged. */
export interface ConfigSummary {
  /** Identifies the config: name, block and the shape fields. */
  key: string;
  /** The label used in tables and legends (scaling: config.name; ablation: the block). */
  label: string;
  config: StudyRowConfig;
  /** The size (width × depth) part of the name, e.g. "M" for "M/2". */
  size: string;
  /** Identifies the size: hidden_size, depth, heads, block, input and channels (not the patch). */
  sizeKey: string;
  patch: number;
  tokens: number;
  gflops: number;
  params: number;
  runs: { run: string; seed: number; lastStep: number; grid?: string }[];
  curve: CurvePoint[];
  /** The point at the study's final step; null when no run of the config reached it. */
  final: CurvePoint | null;
}

export interface Correlations {
  /** Configs correlated (those with a final FID). */
  n: number;
  /** Pearson r of log10(forward Gflops) and final FID (as the paper's Fig. 8). */
  pearsonLogGflops: number | null;
  /** Spearman ρ of forward Gflops and final FID (hypothesis 1). */
  spearmanGflops: number | null;
  /** The same two for parameter counts, for contrast. */
  pearsonLogParams: number | null;
  spearmanParams: number | null;
  /** Why a correlation is null. */
  notes: string[];
}

export interface ScalingSummary {
  study: "scaling";
  /** The largest step in the rows: "final" FIDs are at this step. */
  finalStep: number;
  configs: ConfigSummary[];
  correlations: Correlations;
  hypotheses: HypothesisResult[];
  notes: string[];
}

export interface AblationSummary {
  study: "ablation";
  /** The largest step every block was evaluated at. */
  finalStep: number | null;
  blocks: ConfigSummary[];
  hypotheses: HypothesisResult[];
  notes: string[];
}

/** One config sampled with one sampler at several step counts. */
export interface SamplingCurve {
  label: string;
  run: string;
  config: StudyRowConfig;
  size: string;
  sizeKey: string;
  patch: number;
  sampler: string;
  gflops: number;
  params: number;
  train_step: number;
  /** Sorted by sampling steps. */
  points: { sampling_steps: number; sampling_compute_gflops: number; fid: number }[];
  /** The lowest-FID point. */
  best: { sampling_steps: number; sampling_compute_gflops: number; fid: number };
}

/** Does a smaller model sampled longer catch a larger one? One pair of configs. */
export interface CatchUp {
  sampler: string;
  small: string;
  large: string;
  /** The small model's best point. */
  smallBest: { sampling_steps: number; sampling_compute_gflops: number; fid: number };
  /** The large model's best point using no more sampling compute; null when even its cheapest costs more. */
  largeWithin: { sampling_steps: number; sampling_compute_gflops: number; fid: number } | null;
  /** largeWithin.fid < smallBest.fid: the larger model wins at no more compute. */
  largeWins: boolean | null;
}

export interface SamplingSummary {
  study: "sampling-compute";
  samplers: string[];
  curves: SamplingCurve[];
  catchUp: CatchUp[];
  notes: string[];
}

export type StudySummary = ScalingSummary | AblationSummary | SamplingSummary;

/** The paper's block order (Fig. 5), then others alphabetically. */
const BLOCK_ORDER = ["adaLN-Zero", "adaLN", "cross-attention", "in-context"];

export function configKey(c: StudyRowConfig): string {
  return [c.name, c.block, c.hidden_size, c.depth, c.num_heads, c.patch_size, c.input_size, c.in_channels].join("|");
}

export function sizeKeyOf(c: StudyRowConfig): string {
  return [c.hidden_size, c.depth, c.num_heads, c.block, c.input_size, c.in_channels].join("|");
}

/** "M/2" → "M"; a name without "/" → "D<hidden>×<depth>". */
export function sizeLabel(c: StudyRowConfig): string {
  const i = c.name.lastIndexOf("/");
  return i > 0 ? c.name.slice(0, i) : `D${c.hidden_size}×${c.depth}`;
}

function blockRank(b: string): number {
  const i = BLOCK_ORDER.indexOf(b);
  return i < 0 ? BLOCK_ORDER.length : i;
}

const fmt = (x: number, d = 2) => x.toFixed(d);

/** Merge the runs (seeds) of each config: mean/min/max FID per step. */
export function summarizeConfigs(rows: readonly TrainingRow[], finalStep: number, label: (c: StudyRowConfig) => string): ConfigSummary[] {
  const groups = new Map<string, TrainingRow[]>();
  for (const r of rows) {
    const k = configKey(r.config);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(r);
  }
  const out: ConfigSummary[] = [];
  for (const [key, rs] of groups) {
    const c = rs[0]!.config;
    const runs = new Map<string, { run: string; seed: number; lastStep: number; grid?: string }>();
    for (const r of rs) {
      const e = runs.get(r.run) ?? { run: r.run, seed: r.seed, lastStep: 0 };
      if (r.step >= e.lastStep) {
        e.lastStep = r.step;
        if (r.grid) e.grid = r.grid;
      }
      runs.set(r.run, e);
    }
    const bySeedThenRun = [...runs.values()].sort((a, b) => a.seed - b.seed || a.run.localeCompare(b.run));
    const steps = [...new Set(rs.map((r) => r.step))].sort((a, b) => a - b);
    const curve = steps.map((step): CurvePoint => {
      const at = rs.filter((r) => r.step === step).sort((a, b) => a.seed - b.seed || a.run.localeCompare(b.run));
      const fids = at.map((r) => r.fid);
      return { step, fid: mean(fids), fidMin: Math.min(...fids), fidMax: Math.max(...fids), fids, n: at.length, train_compute_gflops: mean(at.map((r) => r.train_compute_gflops)) };
    });
    out.push({
      key,
      label: label(c),
      config: c,
      size: sizeLabel(c),
      sizeKey: sizeKeyOf(c),
      patch: c.patch_size,
      tokens: (c.input_size / c.patch_size) ** 2,
      gflops: rs[0]!.gflops,
      params: rs[0]!.params,
      runs: bySeedThenRun,
      curve,
      final: curve.find((p) => p.step === finalStep) ?? null,
    });
  }
  return out;
}

function corr(f: (x: number[], y: number[]) => number, x: number[], y: number[], what: string, notes: string[]): number | null {
  if (x.length < 3) {
    notes.push(`${what}: ${x.length} config(s) with a final FID; needs at least 3`);
    return null;
  }
  try {
    return f(x, y);
  } catch (e) {
    if (e instanceof CorrelationError) {
      notes.push(`${what}: ${e.message}`);
      return null;
    }
    throw e;
  }
}

/** The scaling study: final FIDs, correlations, hypotheses 1 and 2. */
export function analyzeScaling(rows: readonly TrainingRow[]): ScalingSummary {
  if (rows.length === 0) throw new StudyError("analyzeScaling: no rows");
  const notes: string[] = [];
  const finalStep = Math.max(...rows.map((r) => r.step));
  const configs = summarizeConfigs(rows, finalStep, (c) => c.name).sort((a, b) => a.gflops - b.gflops || a.label.localeCompare(b.label));
  const labels = new Set<string>();
  for (const c of configs) {
    if (labels.has(c.label)) c.label = `${c.label} (${c.config.block})`;
    labels.add(c.label);
    for (const r of c.runs) if (r.lastStep < finalStep) notes.push(`run '${r.run}' (${c.label}) stops at step ${r.lastStep} < ${finalStep}: left out of the final FIDs`);
  }
  const done = configs.filter((c) => c.final);
  const fid = done.map((c) => c.final!.fid);
  const cn: string[] = [];
  const correlations: Correlations = {
    n: done.length,
    pearsonLogGflops: corr(pearson, done.map((c) => Math.log10(c.gflops)), fid, "Pearson r (log10 Gflops, FID)", cn),
    spearmanGflops: corr(spearman, done.map((c) => c.gflops), fid, "Spearman ρ (Gflops, FID)", cn),
    pearsonLogParams: corr(pearson, done.map((c) => Math.log10(c.params)), fid, "Pearson r (log10 params, FID)", cn),
    spearmanParams: corr(spearman, done.map((c) => c.params), fid, "Spearman ρ (params, FID)", cn),
    notes: cn,
  };
  return { study: "scaling", finalStep, configs, correlations, hypotheses: [hypothesis1(correlations, finalStep), hypothesis2(done, finalStep)], notes };
}

export function hypothesis1(c: Correlations, finalStep: number): HypothesisResult {
  const statement = "Final FID falls with forward Gflops: Spearman ρ ≤ −0.9 across the grid.";
  const rule = `Spearman ρ (average ranks for ties) between forward Gflops per image and the FID at step ${finalStep} (mean over seeds) of every config that reached it; PASS iff ρ ≤ −0.9.`;
  if (c.spearmanGflops === null) return { id: 1, statement, rule, verdict: "UNDECIDED", evidence: c.notes.filter((n) => n.startsWith("Spearman ρ (Gflops")) };
  const pass = c.spearmanGflops <= -0.9;
  return {
    id: 1,
    statement,
    rule,
    verdict: pass ? "PASS" : "FAIL",
    evidence: [`ρ = ${fmt(c.spearmanGflops, 3)} over ${c.n} configs (${pass ? "≤" : ">"} −0.9).${c.pearsonLogGflops === null ? "" : ` Pearson r on log10 Gflops = ${fmt(c.pearsonLogGflops, 3)} (the paper: −0.93).`}`],
  };
}

export function hypothesis2(done: readonly ConfigSummary[], finalStep: number): HypothesisResult {
  const statement = "At equal width and depth, the smaller patch gives the lower FID, for every size.";
  const rule = `For each size (same hidden size, depth, heads and block) with ≥ 2 patch sizes, the FID at step ${finalStep} must strictly rise with the patch size; PASS iff it does for every such size.`;
  const bySize = new Map<string, ConfigSummary[]>();
  for (const c of done) {
    if (!bySize.has(c.sizeKey)) bySize.set(c.sizeKey, []);
    bySize.get(c.sizeKey)!.push(c);
  }
  const evidence: string[] = [];
  let decided = 0;
  let fail = false;
  for (const cs of bySize.values()) {
    cs.sort((a, b) => a.patch - b.patch);
    const chain = cs.map((c) => `p${c.patch} ${fmt(c.final!.fid)}`).join(" → ");
    if (new Set(cs.map((c) => c.patch)).size < 2) {
      evidence.push(`${cs[0]!.size}: only patch ${cs[0]!.patch}; not compared.`);
      continue;
    }
    decided++;
    const bad: string[] = [];
    for (let i = 0; i < cs.length; i++) for (let j = i + 1; j < cs.length; j++) if (cs[i]!.patch < cs[j]!.patch && !(cs[i]!.final!.fid < cs[j]!.final!.fid)) bad.push(`p${cs[i]!.patch} ${fmt(cs[i]!.final!.fid)} ≥ p${cs[j]!.patch} ${fmt(cs[j]!.final!.fid)}`);
    if (bad.length) fail = true;
    evidence.push(`${cs[0]!.size}: ${chain} — ${bad.length ? `violated: ${bad.join("; ")}` : "holds"}.`);
  }
  if (decided === 0) return { id: 2, statement, rule, verdict: "UNDECIDED", evidence: [...evidence, "no size has two patch sizes with a final FID"] };
  return { id: 2, statement, rule, verdict: fail ? "FAIL" : "PASS", evidence };
}

/** The ablation study: FID per block along training (seed spread), hypothesis 3. */
export function analyzeAblation(rows: readonly TrainingRow[]): AblationSummary {
  if (rows.length === 0) throw new StudyError("analyzeAblation: no rows");
  const notes: string[] = [];
  const names = new Set(rows.map((r) => r.config.name));
  const pre = summarizeConfigs(rows, Number.NaN, (c) => (names.size > 1 ? `${c.name} ${c.block}` : c.block));
  const common = pre.map((b) => new Set(b.curve.map((p) => p.step))).reduce((a, s) => new Set([...a].filter((x) => s.has(x))));
  const finalStep = common.size ? Math.max(...common) : null;
  if (finalStep === null) notes.push("no step at which every block was evaluated");
  const blocks = pre
    .map((b) => ({ ...b, final: finalStep === null ? null : (b.curve.find((p) => p.step === finalStep) ?? null) }))
    .sort((a, b) => blockRank(a.config.block) - blockRank(b.config.block) || a.label.localeCompare(b.label));
  if (names.size > 1) notes.push(`rows of ${names.size} configs (${[...names].join(", ")}); the ablation is meant to use one`);
  return { study: "ablation", finalStep, blocks, hypotheses: [hypothesis3(blocks, finalStep, [...common].sort((a, b) => a - b))], notes };
}

const spread = (p: CurvePoint) => (p.n > 1 ? `${fmt(p.fid)} [${fmt(p.fidMin)}, ${fmt(p.fidMax)}] over ${p.n} seeds` : `${fmt(p.fid)} (1 seed)`);

export function hypothesis3(blocks: readonly ConfigSummary[], finalStep: number | null, commonSteps: number[]): HypothesisResult {
  const statement = "adaLN-Zero has the lowest FID of the four blocks at equal steps, beyond the seed spread.";
  const rule = "At the last step every block was evaluated at, adaLN-Zero's worst seed must have a lower FID than every other block's best seed (max over adaLN-Zero's seeds < min over each other block's seeds), with ≥ 2 seeds per block; PASS iff it does.";
  const undecided = (why: string, extra: string[] = []): HypothesisResult => ({ id: 3, statement, rule, verdict: "UNDECIDED", evidence: [...extra, why] });
  const zero = blocks.filter((b) => b.config.block === "adaLN-Zero");
  const others = blocks.filter((b) => b.config.block !== "adaLN-Zero");
  if (zero.length !== 1) return undecided(zero.length ? "more than one adaLN-Zero config in the rows" : "no adaLN-Zero rows");
  if (others.length === 0) return undecided("no other block to compare with");
  if (finalStep === null) return undecided("no step at which every block was evaluated");
  const missing = BLOCK_ORDER.filter((b) => !blocks.some((x) => x.config.block === b));
  const z = zero[0]!;
  const zf = z.final!;
  const evidence = [`At step ${finalStep}: adaLN-Zero ${spread(zf)}; ${others.map((o) => `${o.label} ${spread(o.final!)}`).join("; ")}.`];
  if (missing.length) evidence.push(`Blocks absent from the rows: ${missing.join(", ")}.`);
  const thin = blocks.filter((b) => b.final!.n < 2);
  if (thin.length) return undecided(`the seed spread needs ≥ 2 seeds per block; ${thin.map((b) => `${b.label} has ${b.final!.n}`).join(", ")}`, evidence);
  const beaten = others.filter((o) => !(zf.fidMax < o.final!.fidMin));
  evidence.push(
    beaten.length
      ? `Not beyond the spread: adaLN-Zero's worst seed ${fmt(zf.fidMax)} ≥ the best seed of ${beaten.map((o) => `${o.label} (${fmt(o.final!.fidMin)})`).join(", ")}.`
      : `adaLN-Zero's worst seed ${fmt(zf.fidMax)} < the best seed of every other block (lowest: ${fmt(Math.min(...others.map((o) => o.final!.fidMin)))}).`,
  );
  // context: at how many of the common steps the same ordering holds
  const holds = commonSteps.filter((s) => {
    const zp = z.curve.find((p) => p.step === s)!;
    return others.every((o) => zp.fidMax < o.curve.find((p) => p.step === s)!.fidMin);
  });
  evidence.push(`The same ordering holds at ${holds.length} of the ${commonSteps.length} steps every block was evaluated at${holds.length ? ` (${holds.join(", ")})` : ""}.`);
  return { id: 3, statement, rule, verdict: beaten.length ? "FAIL" : "PASS", evidence };
}

/** The sampling-compute study: FID against Gflops × sampling steps per config, and who catches whom. */
export function analyzeSampling(rows: readonly SamplingRow[]): SamplingSummary {
  if (rows.length === 0) throw new StudyError("analyzeSampling: no rows");
  const notes: string[] = [];
  const groups = new Map<string, SamplingRow[]>();
  for (const r of rows) {
    const k = `${r.run}\u0000${r.sampler}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(r);
  }
  const nameRuns = new Map<string, Set<string>>();
  for (const r of rows) nameRuns.set(r.config.name, (nameRuns.get(r.config.name) ?? new Set()).add(r.run));
  const curves: SamplingCurve[] = [...groups.values()].map((rs) => {
    const r0 = rs[0]!;
    const points = rs.map((r) => ({ sampling_steps: r.sampling_steps, sampling_compute_gflops: r.sampling_compute_gflops, fid: r.fid })).sort((a, b) => a.sampling_steps - b.sampling_steps);
    const best = points.reduce((a, b) => (b.fid < a.fid ? b : a));
    return {
      label: nameRuns.get(r0.config.name)!.size > 1 ? `${r0.config.name} (${r0.run})` : r0.config.name,
      run: r0.run,
      config: r0.config,
      size: sizeLabel(r0.config),
      sizeKey: sizeKeyOf(r0.config),
      patch: r0.config.patch_size,
      sampler: r0.sampler,
      gflops: r0.gflops,
      params: r0.params,
      train_step: r0.train_step,
      points,
      best,
    };
  });
  curves.sort((a, b) => a.sampler.localeCompare(b.sampler) || a.gflops - b.gflops || a.label.localeCompare(b.label));
  const samplers = [...new Set(curves.map((c) => c.sampler))];
  const catchUp: CatchUp[] = [];
  for (const s of samplers) {
    const cs = curves.filter((c) => c.sampler === s);
    for (const small of cs)
      for (const large of cs) {
        if (!(small.gflops < large.gflops)) continue;
        const within = large.points.filter((p) => p.sampling_compute_gflops <= small.best.sampling_compute_gflops);
        const largeWithin = within.length ? within.reduce((a, b) => (b.fid < a.fid ? b : a)) : null;
        catchUp.push({ sampler: s, small: small.label, large: large.label, smallBest: small.best, largeWithin, largeWins: largeWithin ? largeWithin.fid < small.best.fid : null });
      }
  }
  const steps = new Set(curves.map((c) => c.train_step));
  if (steps.size > 1) notes.push(`checkpoints from different training steps (${[...steps].sort((a, b) => a - b).join(", ")})`);
  return { study: "sampling-compute", samplers, curves, catchUp, notes };
}
