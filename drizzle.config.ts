import { defineConfig } from 'drizzle-kit';

// `npx drizzle-kit generate` writes versioned SQL migrations for src/jobs/schema.ts into drizzle/;
// the job store applies them at start-up (src/jobs/migrate.ts). No database connection is needed.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/jobs/schema.ts',
  out: './drizzle',
});
