// The layering of src/, kept by dependency-cruiser in `npm test` (`npm run lint:deps`).
// ARCHITECTURE.md explains each rule; test/rules.ts proves the rules catch what they name.
// What no import graph can show (SQL outside src/server/db/, MQTT topic literals outside
// src/protocol/) is checked by test/rules.ts on the text.

/** Node's own modules (node:fs, ...) are allowed everywhere; each rule names the rest. */
const core = { dependencyTypesNot: ['core'] }

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycle in src/, type-only imports included: a cycle means two modules are one.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'sdk-is-a-leaf',
      severity: 'error',
      comment: 'The SDK ships on its own (scripts/pack-sdk.mjs): node built-ins, yaml and its own files only.',
      from: { path: '^src/sdk/' },
      to: { ...core, pathNot: ['^src/sdk/', '(^|/)node_modules/yaml/'] },
    },
    {
      name: 'protocol-is-a-leaf',
      severity: 'error',
      comment: 'What server and agent agree on depends on nothing but node.',
      from: { path: '^src/protocol/' },
      to: { ...core, pathNot: '^src/protocol/' },
    },
    {
      name: 'common-is-a-leaf',
      severity: 'error',
      comment: 'The shared leaf (engine formulas, base configuration, units) depends on nothing but node.',
      from: { path: '^src/common/' },
      to: { ...core, pathNot: '^src/common/' },
    },
    {
      name: 'server-and-agent-share-only-protocol-and-common',
      severity: 'error',
      comment: 'The agent runs inside an instance and the server on the host: they meet only over MQTT.',
      from: { path: '^src/(server|agent)/' },
      to: { path: '^src/(cli|sdk)/' },
    },
    {
      name: 'server-does-not-import-agent',
      severity: 'error',
      from: { path: '^src/server/' },
      to: { path: '^src/agent/' },
    },
    {
      name: 'agent-does-not-import-server',
      severity: 'error',
      from: { path: '^src/agent/' },
      to: { path: '^src/server/' },
    },
    {
      name: 'cli-reaches-server-and-agent-only-through-their-entry-points',
      severity: 'error',
      comment: 'Loaded lazily so that `trove instance list` never loads the server.',
      from: { path: '^src/cli/' },
      to: { path: '^src/(server|agent)/', pathNot: '^src/(server|agent)/index\\.ts$' },
    },
    {
      name: 'cli-loads-entry-points-lazily',
      severity: 'error',
      from: { path: '^src/cli/' },
      to: { path: '^src/(server|agent)/index\\.ts$', dependencyTypesNot: ['dynamic-import', 'type-import', 'type-only'] },
    },
    {
      name: 'no-route-imports-a-route',
      severity: 'error',
      comment: 'Routes are leaves that translate HTTP to domain calls; shared logic lives in the domain.',
      from: { path: '^src/server/routes/', pathNot: '^src/server/routes/index\\.ts$' },
      to: { path: '^src/server/routes/' },
    },
    {
      name: 'only-the-server-entry-registers-routes',
      severity: 'error',
      from: { pathNot: '^src/server/(routes/|index\\.ts$)' },
      to: { path: '^src/server/routes/' },
    },
    {
      name: 'domain-does-not-import-http',
      severity: 'error',
      comment:
        'HTTP plumbing (views, guards, content types) serves routes; the domain knows no HTTP. ' +
        'index.ts builds the server and lab.ts types the context it hands to every part (the rate limiter included).',
      from: { path: '^src/server/', pathNot: '^src/server/(routes/|http/|index\\.ts$|lab\\.ts$)' },
      to: { path: '^src/server/http/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      extensions: ['.ts', '.tsx', '.js', '.mjs', '.cjs', '.json'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
  },
}
