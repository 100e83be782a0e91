// Loads and validates the --map file once at start, then answers "which layout has room X".
import { readFile } from 'node:fs/promises';
import { RoomMapFileSchema, describeIssues, type RoomLayout, type RoomMapFile } from '../protocol.js';

export class RoomMap {
  constructor(private readonly file: RoomMapFile | null) {}

  layoutFor(room: string): RoomLayout | null {
    if (!this.file) return null;
    return this.file.rooms[room] ?? this.file.default ?? null;
  }

  /** The room's own media setting from the map, if it has one. */
  mediaFor(room: string): RoomLayout['media'] {
    return this.layoutFor(room)?.media;
  }

  static empty(): RoomMap {
    return new RoomMap(null);
  }

  static parse(text: string, origin: string): RoomMap {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new Error(`map file ${origin} is not valid JSON (${(error as Error).message}); see README "Room maps" for the format`);
    }
    const parsed = RoomMapFileSchema.safeParse(json);
    if (!parsed.success) throw new Error(`map file ${origin} is invalid: ${describeIssues(parsed.error)}; see README "Room maps" for the format`);
    return new RoomMap(parsed.data);
  }

  static async load(path: string): Promise<RoomMap> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      throw new Error(`cannot read map file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    return RoomMap.parse(text, path);
  }
}
