// A tokenizer's own Jinja chat_template (tokenizer_config.json), evaluated by Hugging Face's
// @huggingface/jinja as transformers.js does, split into the pieces the loss reads or trains on.
// Which text is a reply is found as transformers' apply_chat_template users find it: the
// conversation up to reply i rendered with add_generation_prompt is a prefix of the conversation
// including reply i; the difference is the reply (and the tokens that end it). Trailing whitespace
// after a reply is read, not trained, as the built-in templates do.
import { Template } from '@huggingface/jinja';
import { ArgumentError } from '../errors.ts';
import type { ChatMessage, ChatPiece, ChatTemplate, ChatTemplateContext } from './causal_lm_chat.ts';

function compile(source: string): Template {
  try {
    return new Template(source);
  } catch (e) {
    throw new ArgumentError(
      `the tokenizer's chat_template does not parse: ${(e as Error).message}`,
      "fix tokenizer_config.json's chat_template, or name a built-in template: chatTemplate: 'chatml', 'llama3' or 'simple'",
    );
  }
}

/** A ChatTemplate that runs the Jinja source. */
export function jinjaChatTemplate(source: string): ChatTemplate {
  const template = compile(source);
  const render = (messages: readonly ChatMessage[], ctx: ChatTemplateContext, addGenerationPrompt: boolean): string => {
    try {
      return template.render({
        messages: messages.map((m) => ({ role: m.role, content: m.content })),
        bos_token: ctx.bos ?? '',
        eos_token: ctx.eos ?? '',
        add_generation_prompt: addGenerationPrompt,
      });
    } catch (e) {
      throw new ArgumentError(
        `the tokenizer's chat_template failed on a conversation: ${(e as Error).message}`,
        "check the rows' roles against what the template accepts, or name a built-in template: chatTemplate: 'chatml', 'llama3' or 'simple'",
      );
    }
  };
  return {
    name: 'tokenizer',
    description: "the tokenizer's own Jinja chat_template",
    render(messages, ctx) {
      const full = render(messages, ctx, false);
      const pieces: ChatPiece[] = [];
      let at = 0;
      messages.forEach((m, i) => {
        if (m.role !== 'assistant') return;
        const prompt = render(messages.slice(0, i), ctx, true);
        const upTo = render(messages.slice(0, i + 1), ctx, false);
        if (!upTo.startsWith(prompt) || !full.startsWith(upTo) || prompt.length < at)
          throw new ArgumentError(
            `the tokenizer's chat_template does not render reply ${i + 1} after its prompt, so its tokens cannot be told apart`,
            "name a built-in template instead: chatTemplate: 'chatml', 'llama3' or 'simple'",
          );
        const reply = upTo.slice(prompt.length);
        const trained = reply.trimEnd();
        pieces.push({ text: full.slice(at, prompt.length), train: false });
        pieces.push({ text: trained, train: true });
        at = prompt.length + trained.length;
      });
      pieces.push({ text: full.slice(at), train: false });
      return pieces.filter((p) => p.text.length > 0);
    },
  };
}
