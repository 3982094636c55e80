// The create-store rules of intake (services/intake/src/store_request.cpp), checked in the
// browser before a request is sent. The server stays the authority: its answer wins.
import type { CreateStoreBody } from './api';

export const ENGINES = ['woocommerce', 'medusa'] as const;
export const PLANS = ['small', 'medium', 'large'] as const;
export const NAME_MAX = 40;
export const EMAIL_MAX = 100; // WordPress keeps user_email in a varchar(100)

export interface StoreForm {
  name: string;
  engine: string;
  plan: string;
  admin_email: string;
  /** 'any' (the cluster decides) or 'real-node' (the local stack's real node). */
  placement?: string;
}

export type FormErrors = Partial<Record<keyof StoreForm, string>>;

/** A DNS label: a-z, 0-9 and '-', not starting or ending with '-', 1..max long. */
export function isDnsLabel(text: string, max: number): boolean {
  return text.length > 0 && text.length <= max && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(text);
}

export function looksLikeEmail(text: string): boolean {
  const at = text.indexOf('@');
  return (
    text.length <= EMAIL_MAX &&
    at > 0 &&
    text.indexOf('.', at) !== -1 &&
    !text.endsWith('.') &&
    !/[ \t\r\n"'<>]/.test(text)
  );
}

export function validateName(name: string): string | undefined {
  if (name === '') return 'Enter a name for the store.';
  if (name.length > NAME_MAX) return `Use at most ${NAME_MAX} characters (this is ${name.length}).`;
  if (/[A-Z]/.test(name) && isDnsLabel(name.toLowerCase(), NAME_MAX)) return 'Use lower-case letters only (a-z).';
  if (!isDnsLabel(name, NAME_MAX)) {
    return `Use 1-${NAME_MAX} characters of a-z, 0-9 and '-', not starting or ending with '-'.`;
  }
  return undefined;
}

const ENGINE_NAMES: Record<string, string> = { woocommerce: 'WooCommerce', medusa: 'Medusa' };

export function validateStoreForm(form: StoreForm, realNodeEngines: readonly string[] = []): FormErrors {
  const errors: FormErrors = {};
  const name = validateName(form.name);
  if (name) errors.name = name;
  if (!(ENGINES as readonly string[]).includes(form.engine)) errors.engine = 'Choose WooCommerce or Medusa.';
  if (!(PLANS as readonly string[]).includes(form.plan)) errors.plan = 'Choose small, medium or large.';
  if (form.admin_email !== '' && !looksLikeEmail(form.admin_email)) {
    errors.admin_email = `Enter an e-mail address like owner@example.com, at most ${EMAIL_MAX} characters.`;
  }
  if (form.placement === 'real-node' && errors.engine === undefined && !realNodeEngines.includes(form.engine)) {
    errors.placement =
      realNodeEngines.length === 0
        ? 'This platform has no real node.'
        : `Only ${realNodeEngines.map((e) => ENGINE_NAMES[e] ?? e).join(' and ')} stores can run on the real node.`;
  }
  return errors;
}

export function toRequestBody(form: StoreForm): CreateStoreBody {
  const body: CreateStoreBody = { name: form.name, engine: form.engine as CreateStoreBody['engine'] };
  if (form.plan) body.plan = form.plan as CreateStoreBody['plan'];
  if (form.admin_email) body.admin_email = form.admin_email;
  if (form.placement === 'real-node') body.placement = 'real-node';
  return body;
}
