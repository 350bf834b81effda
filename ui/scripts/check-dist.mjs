// Fails the product build if the fake backend or its demo data made it into ui/dist: a mis-built
// app must show an error screen, never a demo clinic whose Emergency button alerts nobody.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const FORBIDDEN = ['clinic-fake-backend:do-not-ship', 'Maria Santos', 'drsilva', 'Fatima Rahman'];

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

const found = [];
for (const path of files('dist')) {
  const text = readFileSync(path, 'latin1');
  for (const needle of FORBIDDEN) if (text.includes(needle)) found.push(`${path}: ${needle}`);
}
if (found.length > 0) {
  console.error(`the fake backend is in the product bundle:\n${found.join('\n')}`);
  process.exit(1);
}
if (!files('dist').some((p) => p.endsWith('.js') && readFileSync(p, 'utf8').includes('no-shell'))) {
  console.error('the product bundle lacks the "cannot start here" screen');
  process.exit(1);
}
console.log('ui/dist: no fake backend, error screen present');
