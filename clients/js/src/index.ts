// polycache's browser client. Files:
//   events.ts            the stream's event types and their parsers
//   stream.ts            createStream: EventSource with resume and status
//   aliases.ts           event type names -> React Query keys (the original map)
//   coalescer.ts         merges a burst of events into one batch
//   invalidator.ts       what a batch does to a QueryClient (no React)
//   StreamContext.tsx    StreamProvider / useStream / useStreamListener
//   StreamInvalidator.tsx  the component that wires the two together
//   clock.ts             time, passed in so that tests need not sleep

export type { AppUpdate, Hello, ResetNotice } from './events.js';
export { parseAppUpdate, parseLastEventId } from './events.js';
export {
  createStream,
  streamUrl,
  DEFAULT_RECONNECT_MS,
  RENEW_GRACE_MS,
  type Stream,
  type StreamOptions,
  type EventInfo,
  type StreamStatus,
  type EventSourceLike,
  type EventSourceConstructor,
} from './stream.js';
export { DEFAULT_ALIASES, SINGULAR_ALIASES, withAliases, ownAliases, keysOf, allKeys, type AliasMap } from './aliases.js';
export {
  createCoalescer,
  DEFAULT_WINDOW_MS,
  DEFAULT_MAX_WAIT_MS,
  type Coalescer,
  type CoalescerOptions,
} from './coalescer.js';
export {
  createInvalidator,
  plan,
  isEntityKey,
  type Invalidator,
  type InvalidatorOptions,
  type FlushReport,
  type Plan,
  type EntityTarget,
  type Signal,
} from './invalidator.js';
export {
  StreamProvider,
  useStream,
  useStreamListener,
  type StreamProviderProps,
  type StreamContextValue,
  type StreamListener,
} from './StreamContext.js';
export { StreamInvalidator, type StreamInvalidatorProps } from './StreamInvalidator.js';
export { systemClock, type Clock, type TimerId } from './clock.js';
