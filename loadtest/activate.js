// Activation capacity: VUS clients in a closed loop activate accounts
// prepared beforehand (ACCOUNTS: a JSON file of {email, code}), each an
// activation that verifies a password and a code.
import { check } from 'k6';
import exec from 'k6/execution';
import { SharedArray } from 'k6/data';
import { activate } from './lib.js';

const accounts = new SharedArray('accounts', () => JSON.parse(open(__ENV.ACCOUNTS)));

export const options = {
  scenarios: {
    activate: {
      executor: 'shared-iterations', vus: Number(__ENV.VUS || 8),
      iterations: accounts.length, maxDuration: __ENV.MAX_DURATION || '5m',
    },
  },
  thresholds: { 'http_req_failed{name:activate}': ['rate<0.01'], checks: ['rate>0.99'] },
  summaryTrendStats: ['min', 'avg', 'med', 'p(90)', 'p(95)', 'p(99)', 'max', 'count'],
};

export default function () {
  const a = accounts[exec.scenario.iterationInTest];
  const res = activate(a.email, a.code);
  check(res, { activated: (r) => r.status === 200 });
}
