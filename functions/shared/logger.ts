import { Logger } from "@aws-lambda-powertools/logger";

/**
 * One logger per container: Powertools reads `POWERTOOLS_SERVICE_NAME` and `POWERTOOLS_LOG_LEVEL`
 * (or Lambda's advanced logging controls) once, at construction.
 */
export const logger = new Logger();
