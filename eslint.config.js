// Lint rules the type checker cannot express. Kept to what catches real defects: a promise nobody
// awaits or handles loses its rejection (an unhandled rejection ends the daemon) and its ordering.
// Run with `npm run lint`; CI runs it before the tests (.ci/run).
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/**', 'templates/**', 'test/fixtures/**', '.tmp/**', '**/*.js', '**/*.mjs'] },
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
    },
  },
);
