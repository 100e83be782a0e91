// `voxroom token`: mints a room token that a server started with the same secret (or the
// matching public key) accepts. Prints it on stdout, for `voxroom join --token` or a page
// address `/r/<room>#token=…`.
import { Command, InvalidArgumentError, Option } from 'commander';
import type { z } from 'zod';
import { GRANTS, GrantSchema, PeerNameSchema, RoomIdSchema, describeIssues, type Grant } from '../protocol.js';
import type { RoomScope } from '../server/room-tokens.js';
import { parseDurationSeconds } from './options.js';
import { tokenSignerFrom } from './secrets.js';
import { UsageError } from './process.js';

interface TokenFlags {
  room?: string;
  roomPrefix?: string;
  name: string;
  ttl: number;
  grant: Grant[];
  tokenSecretFile?: string;
  privateKey?: string;
}

/** A token lives at most this long: a leaked one is then useless within a year at worst. */
const MAX_TTL_SECONDS = 366 * 86400;

export function tokenCommand(): Command {
  return new Command('token')
    .description('mint a room token: who may join which room(s), under which name, allowed to do what')
    .option('--room <room>', 'the room the token admits to', checked(RoomIdSchema, 'room'))
    .option('--room-prefix <prefix>', 'or: every room whose id starts with this', checked(RoomIdSchema, 'room prefix'))
    .requiredOption('-n, --name <name>', 'the member\'s name in the room (nobody else can take it)', checked(PeerNameSchema, 'name'))
    .addOption(new Option('--ttl <duration>', 'how long the token is valid: 90s, 10m, 12h, 7d').argParser(parseDurationSeconds(1, MAX_TTL_SECONDS)).default(600, '10m'))
    .addOption(new Option('--grant <grants>', `what the member may do, comma-separated: ${GRANTS.join(', ')}`).argParser(parseGrants).default(['speak', 'listen'], 'speak,listen'))
    .option('--token-secret-file <file>', 'the shared secret (HS256) the server verifies with (default: $VOXROOM_TOKEN_SECRET)')
    .option('--private-key <file>', 'or: an Ed25519 or P-256 private key (PEM), for a server started with --token-public-key')
    .action(async (flags: TokenFlags) => {
      const scope = scopeFrom(flags);
      const signer = await tokenSignerFrom(flags);
      const token = await signer.mint({ name: flags.name, scope, grants: flags.grant, ttlSeconds: flags.ttl });
      process.stdout.write(token + '\n');
    });
}

function scopeFrom(flags: TokenFlags): RoomScope {
  if ((flags.room === undefined) === (flags.roomPrefix === undefined)) throw new UsageError('give either --room ROOM or --room-prefix PREFIX (exactly one)');
  return flags.room !== undefined ? { room: flags.room } : { roomPrefix: flags.roomPrefix! };
}

function parseGrants(value: string): Grant[] {
  const grants = value.split(',').map((grant) => grant.trim()).filter((grant) => grant !== '');
  for (const grant of grants) {
    if (!GrantSchema.safeParse(grant).success) throw new InvalidArgumentError(`unknown grant "${grant}"; grants are ${GRANTS.join(', ')}.`);
  }
  return [...new Set(grants)] as Grant[];
}

/** A commander parser from a protocol schema: the value as the server will check it. */
function checked<T>(schema: z.ZodType<T>, what: string) {
  return (value: string): T => {
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw new InvalidArgumentError(`${what} "${value}": ${describeIssues(parsed.error)}`);
    return parsed.data;
  };
}
