// Chat messages as text pieces for causal-LM training: each piece says whether its tokens are
// trained on (the assistant's replies and the token that ends them) or only read (everything the
// model is given). A tokenizer's own Jinja chat_template runs in causal_lm_jinja.ts; these
// built-in templates serve tokenizers without one, or a recipe that names one.
import { ArgumentError } from '../errors.ts';

export interface ChatMessage {
  role: string;
  content: string;
}

/** A run of text and whether the loss sees its tokens. */
export interface ChatPiece {
  text: string;
  train: boolean;
}

export interface ChatTemplateContext {
  /** the tokenizer's BOS token text (tokenizer_config.json bos_token), if any */
  bos?: string;
  /** the tokenizer's EOS token text, if any */
  eos?: string;
}

export interface ChatTemplate {
  readonly name: string;
  /** what it renders, for docs and errors */
  readonly description: string;
  render(messages: readonly ChatMessage[], ctx: ChatTemplateContext): ChatPiece[];
}

const isReply = (m: ChatMessage) => m.role === 'assistant';

/** ChatML (Qwen, many fine-tunes): <|im_start|>role\ncontent<|im_end|>\n, no default system prompt. */
const chatml: ChatTemplate = {
  name: 'chatml',
  description: '<|im_start|>{role}\\n{content}<|im_end|>\\n per message (Qwen2, ChatML fine-tunes)',
  render(messages) {
    const out: ChatPiece[] = [];
    for (const m of messages) {
      out.push({ text: `<|im_start|>${m.role}\n`, train: false });
      out.push({ text: `${m.content}<|im_end|>`, train: isReply(m) });
      out.push({ text: '\n', train: false });
    }
    return out;
  },
};

/** Llama 3: <|begin_of_text|> then <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>. */
const llama3: ChatTemplate = {
  name: 'llama3',
  description: '<|begin_of_text|> + <|start_header_id|>{role}<|end_header_id|>\\n\\n{content}<|eot_id|> per message',
  render(messages) {
    const out: ChatPiece[] = [{ text: '<|begin_of_text|>', train: false }];
    for (const m of messages) {
      out.push({ text: `<|start_header_id|>${m.role}<|end_header_id|>\n\n`, train: false });
      out.push({ text: `${m.content.trim()}<|eot_id|>`, train: isReply(m) });
    }
    return out;
  },
};

/** For tokenizers without chat tokens: BOS, then "Role: content\n" lines; a reply ends with EOS. */
const simple: ChatTemplate = {
  name: 'simple',
  description: '{bos}, then "{Role}: {content}\\n" per message; an assistant reply ends with {eos}',
  render(messages, ctx) {
    const out: ChatPiece[] = ctx.bos ? [{ text: ctx.bos, train: false }] : [];
    for (const m of messages) {
      const role = m.role.charAt(0).toUpperCase() + m.role.slice(1);
      out.push({ text: `${role}:`, train: false });
      out.push({ text: ` ${m.content}${isReply(m) && ctx.eos ? ctx.eos : ''}`, train: isReply(m) });
      out.push({ text: '\n', train: false });
    }
    return out;
  },
};

export const CHAT_TEMPLATES: Record<string, ChatTemplate> = { chatml, llama3, simple };

export function chatTemplate(name: string): ChatTemplate {
  const t = CHAT_TEMPLATES[name];
  if (!t)
    throw new ArgumentError(
      `unknown chat template '${name}'`,
      `the built-in templates are ${Object.keys(CHAT_TEMPLATES).join(', ')}`,
    );
  return t;
}

/** An instruction pair as a two-message chat: the instruction (and its input) asks, the output replies. */
export function instructionMessages(instruction: string, input: string | undefined, output: string): ChatMessage[] {
  const ask = input ? `${instruction}\n\n${input}` : instruction;
  return [
    { role: 'user', content: ask },
    { role: 'assistant', content: output },
  ];
}
