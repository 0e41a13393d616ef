/**
 * The slice of OpenAPI 3.1 (and of JSON Schema 2020-12) that Ignition's API document uses, as
 * TypeScript types, so the document is checked by the compiler and the validator reads the same
 * shapes it was written with. Extensions used here:
 *
 * - `x-item-schema` on a media type: the schema of each item of a streamed body (one JSON value
 *   per line of `application/x-ndjson`, one JSON value per `data:` line of `text/event-stream`).
 * - `x-ignition-capability` on an operation: the capability whose routes it belongs to, for
 *   capabilities the composition root mounts only when they are wired (async, auth, secrets).
 */

export type JsonType = 'object' | 'array' | 'string' | 'number' | 'integer' | 'boolean' | 'null';

/** JSON Schema keywords the validator understands (validate.ts); others are annotations. */
export interface JsonSchema {
  $ref?: string;
  type?: JsonType | JsonType[];
  description?: string;
  format?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  enum?: readonly unknown[];
  const?: unknown;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  allOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  examples?: unknown[];
}

export interface MediaType {
  schema?: JsonSchema;
  'x-item-schema'?: JsonSchema;
}

export interface ResponseObject {
  description: string;
  /** Response headers; the contract test checks that `required` ones are present. */
  headers?: Record<string, { description: string; required?: boolean; schema: JsonSchema }>;
  content?: Record<string, MediaType>;
}

export interface ParameterObject {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  description?: string;
  schema: JsonSchema;
}

export interface RequestBodyObject {
  description?: string;
  required?: boolean;
  content: Record<string, MediaType>;
}

export type SecurityRequirement = Record<string, string[]>;

export interface OperationObject {
  operationId: string;
  summary: string;
  description?: string;
  tags?: string[];
  parameters?: ParameterObject[];
  requestBody?: RequestBodyObject;
  responses: Record<string, ResponseObject>;
  security?: SecurityRequirement[];
  'x-ignition-capability'?: string;
}

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export type PathItem = Partial<Record<HttpMethod, OperationObject>> & { parameters?: ParameterObject[] };

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description?: string };
  servers?: Array<{ url: string; description?: string }>;
  tags?: Array<{ name: string; description?: string }>;
  security?: SecurityRequirement[];
  paths: Record<string, PathItem>;
  components: {
    schemas: Record<string, JsonSchema>;
    securitySchemes?: Record<string, { type: 'http'; scheme: 'bearer'; description?: string }>;
    responses?: Record<string, ResponseObject>;
  };
}
