import { parse as parseUuid, v5 as uuidv5 } from 'uuid';

/** The root of every membrane namespace: UUIDv5 of "membrane" in the RFC 9562 URL namespace. */
export const MEMBRANE_NAMESPACE = uuidv5('membrane', uuidv5.URL);

/** The namespace of one mapping's IDs. Not versioned: a fixed mapping re-emits the same IDs. */
export function mappingNamespace(mappingName: string): string {
  return uuidv5(`mapping:${mappingName}`, MEMBRANE_NAMESPACE);
}

/**
 * The deterministic ID of output `index` of an upstream event (RFC 9562 UUIDv5, SHA-1).
 * `eventKey` is the source system plus the upstream event ID, or the record's coordinates
 * when the mapping names no event ID.
 */
export function deterministicId(
  namespace: string | Uint8Array,
  eventKey: string,
  index: number,
): string {
  // Bytes in, so the uuid library neither re-parses the namespace nor re-encodes the name.
  return uuidv5(Buffer.from(`${eventKey}#${index}`, 'utf8'), namespace);
}

/** A namespace parsed once, for the hot path. */
export function namespaceBytes(namespace: string): Uint8Array {
  return parseUuid(namespace);
}

export function eventKeyFromId(system: string, eventId: string): string {
  return `${system}/event/${eventId}`;
}

export function eventKeyFromCoordinates(topic: string, partition: number, offset: string): string {
  return `${topic}/${partition}/${offset}`;
}
