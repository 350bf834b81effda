// Vite build (ui/dist, embedded by src-tauri) and Vitest configuration.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  plugins: [react()],
  // Tauri loads the files from its own protocol; relative asset paths work there and in a browser.
  base: './',
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: { outDir: 'dist', target: 'es2021', sourcemap: false },
  test: {
    environment: 'jsdom',
    globals: true,
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    // Stylesheets imported `?raw` (the theme contrast test reads them) keep their text.
    css: { include: [/\.css\?raw$/] },
  },
});
