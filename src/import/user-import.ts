import type { EntityManager } from '@mikro-orm/postgresql';
import { retryingRaces } from '../identity/races.js';
import type { LoginMethodKind } from '../identity/user-login-method.entity.js';
import { checkLine, type ImportedUser } from './import-line.js';
import { ImportRepository, type Held } from './import.repository.js';

/** Lines written per transaction: large enough to be quick, small enough to hold little memory. */
export const IMPORT_BATCH_SIZE = 1000;

/** Where an import stands: lines read, and how those checked so far ended. */
export interface ImportSummary {
  lines: number;
  imported: number;
  /** Their externalId is a user's already (an earlier run, or an earlier line of this file). */
  alreadyThere: number;
  refused: number;
  seconds: number;
}

export interface ImportOptions {
  /** The login method kind of each configured app (methodKinds). */
  kinds: ReadonlyMap<string, LoginMethodKind>;
  batchSize?: number;
  /** Told of each line refused: its number and why, never a value of it. */
  onRefused: (line: number, reason: string) => void;
  /** Told after each batch is written (progress). */
  onBatch?: (summary: Readonly<ImportSummary>) => void;
}

interface BatchOutcome {
  imported: number;
  alreadyThere: number;
  refused: { line: number; reason: string }[];
}

/**
 * Imports users from an earlier system, a JSON object per line (docs/import.md): each line checked
 * on its own (a bad one is reported and skipped, the rest go on), then written in batches, one
 * transaction each. Idempotent by externalId. Writes no webhook events: these people did not sign
 * up, the earlier system knew them already. Lines are read as they come (a stream), so memory
 * holds one batch whatever the file's size.
 */
export async function importUsers(
  em: EntityManager,
  lines: AsyncIterable<string>,
  options: ImportOptions,
): Promise<ImportSummary> {
  const started = performance.now();
  const summary: ImportSummary = { lines: 0, imported: 0, alreadyThere: 0, refused: 0, seconds: 0 };
  const refuse = (line: number, reason: string) => {
    summary.refused++;
    options.onRefused(line, reason);
  };
  let batch: ImportedUser[] = [];
  const write = async () => {
    const outcome = await importBatch(em, batch);
    batch = [];
    summary.imported += outcome.imported;
    summary.alreadyThere += outcome.alreadyThere;
    for (const { line, reason } of outcome.refused) refuse(line, reason);
    summary.seconds = (performance.now() - started) / 1000;
    options.onBatch?.(summary);
  };
  for await (const raw of lines) {
    const line = ++summary.lines;
    // A byte order mark some editors write at the start of a file is not part of its JSON.
    const text = line === 1 ? raw.replace(/^\uFEFF/, '') : raw;
    if (text.trim() === '') continue;
    const checked = checkLine(text, line, options.kinds);
    if (!checked.ok) refuse(line, checked.reason);
    else if (batch.push(checked.user) >= (options.batchSize ?? IMPORT_BATCH_SIZE)) await write();
  }
  if (batch.length > 0) await write();
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}

/**
 * One batch in one transaction: what the database holds of it read, each line decided in file
 * order (an earlier line of the batch claims what it brings), the new users written. A login or
 * another import that wrote the same identity meanwhile fails the transaction on a unique index:
 * it is run again, and decides with what that wrote.
 */
function importBatch(em: EntityManager, batch: readonly ImportedUser[]): Promise<BatchOutcome> {
  return retryingRaces(em, async (tx) => {
    const held = heldByLine(await ImportRepository.held(tx, batch));
    const claimed = new Map<string, number>();
    const outcome: BatchOutcome = { imported: 0, alreadyThere: 0, refused: [] };
    const fresh: ImportedUser[] = [];
    for (const user of batch) {
      const what = held.get(user.line) ?? new Set<string>();
      if (what.has('externalId') || claimed.has(`externalId:${user.externalId}`)) {
        outcome.alreadyThere++;
        continue;
      }
      const reason = refusal(user, what, claimed);
      if (reason) {
        outcome.refused.push({ line: user.line, reason });
        continue;
      }
      for (const key of claimsOf(user)) claimed.set(key, user.line);
      fresh.push(user);
    }
    await ImportRepository.insert(tx, fresh, new Date());
    outcome.imported = fresh.length;
    return outcome;
  });
}

function heldByLine(rows: readonly Held[]): Map<number, Set<string>> {
  const byLine = new Map<number, Set<string>>();
  for (const { line, what } of rows) byLine.set(line, (byLine.get(line) ?? new Set()).add(what));
  return byLine;
}

/** What a line takes for itself: its externalId, its unionId, its identities. */
function claimsOf(user: ImportedUser): string[] {
  return [
    `externalId:${user.externalId}`,
    ...(user.unionId ? [`unionId:${user.unionId}`] : []),
    ...user.identities.map(({ appId, openId }) => `identity:${appId}\n${openId}`),
  ];
}

/** Why a line cannot be imported (its unionId or an identity is someone else's), or null. */
function refusal(user: ImportedUser, held: Set<string>, claimed: Map<string, number>): string | null {
  if (user.unionId) {
    if (held.has('unionId')) return 'unionId is held by another user';
    const line = claimed.get(`unionId:${user.unionId}`);
    if (line) return `unionId is line ${line}'s too`;
  }
  for (const [i, { appId, openId }] of user.identities.entries()) {
    if (held.has(`identity:${appId}`)) return `identities[${i}] is another user's login method`;
    const line = claimed.get(`identity:${appId}\n${openId}`);
    if (line) return `identities[${i}] is line ${line}'s too`;
  }
  return null;
}
