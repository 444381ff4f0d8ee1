import { v5 as uuidv5 } from 'uuid';

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
export function deterministicId(namespace: string, eventKey: string, index: number): string {
  return uuidv5(`${eventKey}#${index}`, namespace);
}

export function eventKeyFromId(system: string, eventId: string): string {
  return `${system}/event/${eventId}`;
}

export function eventKeyFromCoordinates(topic: string, partition: number, offset: string): string {
  return `${topic}/${partition}/${offset}`;
}
