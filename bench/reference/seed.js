// Bench accounts for the reference server, written straight into its database (no server
// running): `{prefix}{i}` patients and doctors sharing one password, each with a fresh token.
//
//   node seed.js --db FILE --patients N --doctors N --password P [--patient-prefix p] [--doctor-prefix d]
//
// Prints one JSON object per account, `{"user": {id, username, name, role}, "token": ...}`,
// patients first, then doctors.

'use strict';

const store = require('./store');

const TOKEN_TTL_SECS = 24 * 3600;

function main() {
  const args = { patients: '0', doctors: '0', 'patient-prefix': 'p', 'doctor-prefix': 'd' };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) throw new Error(`bad option ${argv[i]}`);
    args[argv[i].slice(2)] = argv[i + 1];
  }
  if (!args.db || !args.password) throw new Error('--db FILE and --password P are needed');
  const db = store.open(args.db, null);
  const made = [
    ...db.createUsers(args['patient-prefix'], 'PATIENT', Number(args.patients), args.password, TOKEN_TTL_SECS),
    ...db.createUsers(args['doctor-prefix'], 'DOCTOR', Number(args.doctors), args.password, TOKEN_TTL_SECS),
  ];
  db.close();
  process.stdout.write(made.map((m) => JSON.stringify(m)).join('\n') + '\n');
}

main();
