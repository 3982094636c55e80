// Generates src/lib/api-schema.d.ts, the API's types, from docs/openapi.yaml with
// openapi-typescript (pinned in package.json). The file is committed, so a clean clone and the
// image build (dashboard/Dockerfile copies dashboard/ only) need no generation step.
//   node scripts/gen-api.mjs           rewrites the file (npm run gen:api)
//   node scripts/gen-api.mjs --check   exits 1 if the file is not what the document generates
//                                      (npm run check:api; src/lib/api-schema.test.ts runs it)
//   --input FILE                       another document (the test checks a changed copy)
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import openapiTS, { COMMENT_HEADER, astToString } from 'openapi-typescript';

const dashboard = new URL('../', import.meta.url);
const output = fileURLToPath(new URL('src/lib/api-schema.d.ts', dashboard));
const { values } = parseArgs({
  options: {
    check: { type: 'boolean', default: false },
    input: { type: 'string', default: fileURLToPath(new URL('../docs/openapi.yaml', dashboard)) },
  },
});

// Defaults in the document are all on inputs (query parameters, request fields), which the
// caller may leave out; and `{type: object}` with no properties is any object, not an empty one.
const options = { defaultNonNullable: false, emptyObjectsUnknown: true, silent: true };
const source = `// Generated from docs/openapi.yaml by scripts/gen-api.mjs: run \`npm run gen:api\`, never edit.\n`;
const generated = source + COMMENT_HEADER + astToString(await openapiTS(pathToFileURL(values.input), options));

if (values.check) {
  let committed = '';
  try {
    committed = readFileSync(output, 'utf8');
  } catch {
    committed = '';
  }
  if (committed !== generated) {
    console.error(`dashboard: src/lib/api-schema.d.ts is not what ${values.input} generates: run \`npm run gen:api\` in dashboard/`);
    process.exit(1);
  }
  console.log('dashboard: src/lib/api-schema.d.ts matches docs/openapi.yaml');
} else {
  writeFileSync(output, generated);
  console.log('dashboard: wrote src/lib/api-schema.d.ts');
}
