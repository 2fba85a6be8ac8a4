// A small chat: POST /chat.json {id, name, text} appends a message; everyone
// sees the last 50, in the same snapshot, at the next period boundary.
import { bodyOf, clientId, text, timeOf } from "./_lib/event";

export const period = "200ms";
export const initial = { messages: [], seq: 0 };

const KEEP = 50;
const MAX_TEXT = 280;

export function post(state, event) {
  const b = bodyOf(event);
  const msg = b && text(b.text, MAX_TEXT);
  if (!msg) throw new Error("chat: body must be {id, name, text} with a non-empty text");
  state.seq++;
  state.messages.push({
    id: event.id || "m" + state.seq,
    from: clientId(b.id) || "", // the sender's browser id, so it can mark its own
    name: text(b.name, 24) || "anonymous",
    text: msg,
    time: timeOf(event),
  });
  if (state.messages.length > KEEP) state.messages.splice(0, state.messages.length - KEEP);
}

export default function render(state) {
  // No timestamp here: the bytes change only when a message arrives, so
  // between messages every poll is a 304.
  return { count: state.seq, messages: state.messages };
}
