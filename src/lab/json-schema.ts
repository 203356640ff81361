// The JSON Schema `netlab schema` prints for an input file (a lab file, a room
// file), for yaml-language-server and other editors: made from the zod schema
// that validation uses, so that the two cannot drift apart.
import { z } from 'zod';

export type JsonSchema = Record<string, unknown> & { properties?: Record<string, JsonSchema>; items?: JsonSchema };

/**
 * A zod schema as draft-7 JSON Schema. The caller adds what its file's checks
 * say beyond the zod definitions where JSON Schema can say it, then names it
 * with jsonSchemaNamed.
 */
export function jsonSchemaOf(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, { target: 'draft-7', unrepresentable: 'any' }) as JsonSchema;
}

/** A JSON Schema with its $id and title, as printed. */
export function jsonSchemaNamed(schema: JsonSchema, id: string, title: string): Record<string, unknown> {
  return { ...schema, $id: `https://netlab.invalid/${id}.schema.json`, title };
}
