import { resolve } from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // `vitest run` takes tests only; `npm run bench` (vitest bench) takes benches/ts/*.bench.ts only.
    include: ["tests/ts/**/*.test.ts"],
    benchmark: { include: ["benches/ts/**/*.bench.ts"] },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Named datasets resolve under $LGPO_DATA_DIR; tests read the shared data beside the repository.
    env: { LGPO_DATA_DIR: process.env.LGPO_DATA_DIR ?? resolve(__dirname, "../shared/data") },
  },
});
