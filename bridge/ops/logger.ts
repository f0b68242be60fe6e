import winston from 'winston';

/** JSON lines, each carrying the node id. */
export function createLogger(nodeId: string, level: string): winston.Logger {
  return winston.createLogger({
    level,
    defaultMeta: { node: nodeId },
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Console()],
  });
}
