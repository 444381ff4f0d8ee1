import { MembraneError, type MembraneErrorOptions } from '../core/errors.js';

export const INFRA_ERROR_CODES = [
  'infra.java-missing',
  'infra.java-too-old',
  'infra.maven-missing',
  'infra.openssl-missing',
  'infra.download-failed',
  'infra.checksum-mismatch',
  'infra.port-in-use',
  'infra.start-failed',
  'infra.not-ready',
  'infra.not-running',
  'infra.not-answering',
  'infra.version-mismatch',
  'infra.config-invalid',
] as const;

export type InfraErrorCode = (typeof INFRA_ERROR_CODES)[number];

/** Something about the local Kafka/registry setup that the user has to fix. */
export class InfraError extends MembraneError {
  override readonly name = 'InfraError';
  declare readonly code: InfraErrorCode;

  constructor(code: InfraErrorCode, message: string, options: MembraneErrorOptions = {}) {
    super(code, message, options);
  }
}
