import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { startTestServer, type TestServer } from './support/server.js';

/**
 * docs/monitoring/: the Prometheus alerting rules and the Grafana dashboard parse, and every
 * metric they name is one a real server registers (histograms as their _bucket, _sum and _count).
 */
const PREFIX = 'wechat_login_';
/** Series Prometheus makes itself, not the server. */
const PROMETHEUS_OWN = new Set(['up']);

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const rules = (
  parse(readFileSync('docs/monitoring/alerts.yml', 'utf8')) as { groups: { name: string; rules: Rule[] }[] }
).groups;

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string; refId: string }[];
}
const dashboard = JSON.parse(readFileSync('docs/monitoring/grafana-dashboard.json', 'utf8')) as {
  title: string;
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; query?: unknown; definition?: string }[] };
};

/** The names an expression reads: our prefixed ones, and the bare identifiers before a selector or range. */
function metricNames(expr: string): string[] {
  const ours = [...expr.matchAll(/\b(wechat_login_[a-z0-9_]+)\b/g)].map((m) => m[1]!);
  const bare = [...expr.matchAll(/(?<![\w"=~!])([a-z_][a-z0-9_]*)\s*\{/g)]
    .map((m) => m[1]!)
    .filter((name) => !name.startsWith(PREFIX));
  return [...ours, ...bare];
}

let t: TestServer;
let known: Set<string>;

beforeAll(async () => {
  t = await startTestServer();
  const metrics = await t.server.metrics.registry.getMetricsAsJSON();
  known = new Set(
    metrics.flatMap(({ name, type }) =>
      String(type) === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name],
    ),
  );
});
afterAll(async () => {
  await t?.stop();
});

describe('docs/monitoring', () => {
  it('alerts.yml: named rules with an expression, a severity and a summary', () => {
    const all = rules.flatMap((g) => g.rules);
    expect(all.length).toBeGreaterThanOrEqual(8);
    const names = all.map((r) => r.alert);
    expect(new Set(names).size).toBe(names.length);
    for (const rule of all) {
      expect(rule.alert).toMatch(/^[A-Z][A-Za-z0-9]+$/);
      expect(rule.expr.trim()).not.toBe('');
      expect(['critical', 'warning']).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary).toBeTruthy();
      if (rule.for !== undefined) expect(rule.for).toMatch(/^\d+[smh]$/);
    }
    // What the rules must watch.
    const exprs = all.map((r) => r.expr).join('\n');
    for (const name of [
      'up',
      'wechat_login_wechat_requests_total',
      'wechat_login_wechat_request_duration_seconds_bucket',
      'wechat_login_logins_total',
      'wechat_login_webhook_outbox_pending',
      'wechat_login_webhook_deliveries_total',
    ]) {
      expect(metricNames(exprs)).toContain(name);
    }
  });

  it('alerts.yml uses only metrics the server has', () => {
    for (const rule of rules.flatMap((g) => g.rules)) {
      const names = metricNames(rule.expr);
      expect(names.length).toBeGreaterThan(0);
      for (const name of names) {
        expect({ rule: rule.alert, name, known: known.has(name) || PROMETHEUS_OWN.has(name) }).toEqual({
          rule: rule.alert,
          name,
          known: true,
        });
      }
    }
  });

  it('grafana-dashboard.json uses only metrics the server has, in every panel', () => {
    expect(dashboard.uid).toBe('wechat-login-server');
    const panels = dashboard.panels.filter((p) => p.type !== 'row');
    expect(panels.length).toBeGreaterThanOrEqual(12);
    const exprs = [
      ...panels.flatMap((p) => {
        expect(p.targets?.length).toBeGreaterThan(0);
        return p.targets!.map((target) => ({ where: p.title, expr: target.expr }));
      }),
      ...dashboard.templating.list.flatMap((v) =>
        v.definition ? [{ where: `variable ${v.name}`, expr: v.definition }] : [],
      ),
    ];
    const used = new Set<string>();
    for (const { where, expr } of exprs) {
      const names = metricNames(expr.replace(/label_values\((\w+)/, '$1{'));
      expect({ where, names: names.length > 0 }).toEqual({ where, names: true });
      for (const name of names) {
        used.add(name);
        expect({ where, name, known: known.has(name) }).toEqual({ where, name, known: true });
      }
    }
    // The dashboard shows every metric family of ours but the links' kind split.
    for (const family of [
      'logins_total',
      'wechat_request_duration_seconds_bucket',
      'wechat_requests_total',
      'graphql_operation_duration_seconds_bucket',
      'db_pool_used_connections',
      'db_pool_pending_acquires',
      'rate_limit_refusals_total',
      'app_access_token_fetches_total',
      'webhook_deliveries_total',
      'webhook_outbox_pending',
      'nodejs_eventloop_lag_p99_seconds',
      'process_resident_memory_bytes',
    ]) {
      expect(used).toContain(`${PREFIX}${family}`);
    }
  });
});
