// The `--import` of every test process (.taprc's node-arg, beside the TypeScript loader): the suite's labs run
// `--isolation none` unless TROVE_ISOLATION says otherwise. The product's default is `sandbox` (issue 14); the
// sandbox has test files of its own (test/e2e/isolation-sandbox.ts, sandbox-*.ts, attack-*.ts), and
// `TROVE_ISOLATION=sandbox npm test` runs every other file on it too, which takes longer than the suite's budget
// (docs/isolation.md, "The whole suite on this compute"). Children started by tests inherit it; a test of the
// default itself (test/e2e/readme.ts, test/e2e/isolation-default.ts) removes it from the child's environment.
process.env.TROVE_ISOLATION ||= 'none'
