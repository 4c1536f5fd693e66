// Runs a `process/code-run` TypeScript program read from stdin: the TypeScript compiler of the
// image (Debian's node-typescript) transpiles it to CommonJS without type checking, as ts-node's
// transpile-only mode does, and the result runs as the main module in the working directory, so
// `require` resolves from there. process.argv is [node, ...the run's argv], as for javascript.
'use strict';
const Module = require('module');
const path = require('path');

let ts;
try {
  ts = require('typescript');
} catch (error) {
  process.stderr.write('typescript is not installed in this sandbox image (npm install -g typescript)\n');
  process.exit(127);
}

const chunks = [];
process.stdin.on('data', (chunk) => chunks.push(chunk));
process.stdin.on('end', () => {
  const source = Buffer.concat(chunks).toString('utf8');
  const output = ts.transpileModule(source, {
    fileName: 'main.ts',
    reportDiagnostics: true,
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2020,
      esModuleInterop: true,
    },
  });
  const syntaxErrors = (output.diagnostics || []).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (syntaxErrors.length > 0) {
    for (const diagnostic of syntaxErrors) {
      const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
      const where = diagnostic.file && diagnostic.start !== undefined
        ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
        : null;
      process.stderr.write(`main.ts${where ? `(${where.line + 1},${where.character + 1})` : ''}: error TS${diagnostic.code}: ${message}\n`);
    }
    process.exit(1);
  }
  const filename = path.join(process.cwd(), 'main.ts');
  const main = new Module(filename, null);
  main.filename = filename;
  main.paths = Module._nodeModulePaths(process.cwd());
  process.mainModule = main;
  main._compile(output.outputText, filename);
});
