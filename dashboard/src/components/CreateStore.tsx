import { useEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError, newIdempotencyKey, type Accepted, type ApiClient } from '../lib/api';
import { EMAIL_MAX, NAME_MAX, toRequestBody, validateStoreForm, type FormErrors, type StoreForm } from '../lib/validation';

const FIELDS: (keyof StoreForm)[] = ['name', 'engine', 'plan', 'admin_email', 'placement'];

/** Plain words for a refused create; field errors go next to their field. */
export function explain(error: ApiError): { fields: FormErrors; form: string | null } {
  const fields: FormErrors = {};
  for (const e of error.errors) {
    if ((FIELDS as string[]).includes(e.field)) fields[e.field as keyof StoreForm] = e.message;
  }
  const detail = error.detail || error.title;
  switch (error.status) {
    case 409:
      if (error.code === 'idempotency_conflict') {
        return { fields, form: 'The same request is still being handled; wait a moment and look at your stores.' };
      }
      // The server's wording names the tenant; the user wants to know what to do.
      fields.name = 'This name is taken: one of your stores (perhaps one still being deleted) has it. Choose another name.';
      return { fields, form: null };
    case 403:
      return { fields, form: `Your store quota is used up. Delete a store you no longer need, or ask for a bigger quota.${detail ? ` (${detail})` : ''}` };
    case 429:
      return {
        fields,
        form: `Too many requests right now.${error.retryAfter !== null ? ` Try again in ${error.retryAfter} s.` : ' Try again shortly.'}`,
      };
    case 503:
      return {
        fields,
        form: `The service is briefly unavailable.${error.retryAfter !== null ? ` Try again in ${error.retryAfter} s.` : ''}`,
      };
    case 415:
      return { fields, form: 'The server did not accept the request format. Reload the page and try again.' };
    case 422:
    case 400:
      if (Object.keys(fields).length > 0) return { fields, form: null };
      if (error.code === 'idempotency_key_reused') {
        return { fields, form: 'This form was already sent with other values. Submit again to send a fresh request.' };
      }
      return { fields, form: detail || 'The request was not valid.' };
    default:
      return { fields, form: `The store could not be created (${error.status}${detail ? `: ${detail}` : ''}).` };
  }
}

export function CreateStore({
  api,
  onCreated,
  realNodeEngines = [],
}: {
  api: ApiClient;
  onCreated: (store: Accepted) => void;
  /** From GET /api/v1/me: where it is not empty, a store may ask for the real node. */
  realNodeEngines?: readonly string[];
}) {
  const [form, setForm] = useState<StoreForm>({ name: '', engine: '', plan: 'small', admin_email: '', placement: 'any' });
  const [touched, setTouched] = useState<Partial<Record<keyof StoreForm, boolean>>>({});
  const [serverErrors, setServerErrors] = useState<FormErrors>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [waitUntil, setWaitUntil] = useState(0);
  const [, setTick] = useState(0);
  // One key per distinct body: a double click or a retry after a lost answer creates one store.
  const attempt = useRef<{ body: string; key: string } | null>(null);
  const sending = useRef(false);
  const refs = useRef<Partial<Record<keyof StoreForm, HTMLInputElement | HTMLSelectElement | null>>>({});

  const localErrors = validateStoreForm(form, realNodeEngines);
  const shown = (field: keyof StoreForm) => serverErrors[field] ?? (touched[field] ? localErrors[field] : undefined);

  useEffect(() => {
    if (waitUntil <= Date.now()) return;
    const id = setInterval(() => {
      setTick((t) => t + 1);
      if (Date.now() >= waitUntil) clearInterval(id);
    }, 500);
    return () => clearInterval(id);
  }, [waitUntil]);
  const waiting = Math.max(0, Math.ceil((waitUntil - Date.now()) / 1000));

  const update = (field: keyof StoreForm, value: string) => {
    setForm((f) => ({ ...f, [field]: value }));
    setServerErrors((e) => ({ ...e, [field]: undefined }));
    setFormError(null);
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (sending.current) return;
    setTouched({ name: true, engine: true, plan: true, admin_email: true, placement: true });
    const invalid = FIELDS.find((f) => localErrors[f]);
    if (invalid) {
      refs.current[invalid]?.focus();
      return;
    }
    const body = toRequestBody(form);
    const text = JSON.stringify(body);
    if (!attempt.current || attempt.current.body !== text) attempt.current = { body: text, key: newIdempotencyKey() };
    sending.current = true;
    setBusy(true);
    setFormError(null);
    try {
      const store = await api.createStore(body, attempt.current.key);
      attempt.current = null;
      onCreated(store);
    } catch (e) {
      if (e instanceof ApiError) {
        if (e.status === 401) return;
        const { fields, form: message } = explain(e);
        setServerErrors(fields);
        setFormError(message);
        if ((e.status === 429 || e.status === 503) && e.retryAfter) setWaitUntil(Date.now() + e.retryAfter * 1000);
        // A refusal is final for this body; a new submit gets a new key (a 409 on the name
        // keeps nothing reserved for it).
        if (e.status !== 429 && e.status !== 503) attempt.current = null;
        const first = FIELDS.find((f) => fields[f]);
        if (first) refs.current[first]?.focus();
      } else {
        setFormError('The server cannot be reached. Your request may not have arrived: submit again, it is safe.');
      }
    } finally {
      sending.current = false;
      setBusy(false);
    }
  };

  const describedBy = (field: keyof StoreForm, hint: boolean) =>
    [hint ? `${field}-hint` : '', shown(field) ? `${field}-error` : ''].filter(Boolean).join(' ') || undefined;

  const errorText = (field: keyof StoreForm) =>
    shown(field) ? (
      <p id={`${field}-error`} className="field-error">
        {shown(field)}
      </p>
    ) : null;

  return (
    <section aria-labelledby="create-title">
      <h1 id="create-title" tabIndex={-1}>
        New store
      </h1>
      <form className="create" onSubmit={submit} noValidate aria-describedby={formError ? 'form-error' : undefined}>
        <div className="field">
          <label htmlFor="name">Name</label>
          <input
            id="name"
            name="name"
            ref={(el) => {
              refs.current.name = el;
            }}
            value={form.name}
            maxLength={NAME_MAX + 20}
            autoComplete="off"
            spellCheck={false}
            required
            aria-invalid={shown('name') ? true : undefined}
            aria-describedby={describedBy('name', true)}
            onChange={(e) => update('name', e.target.value)}
            onBlur={() => setTouched((t) => ({ ...t, name: true }))}
          />
          <p id="name-hint" className="hint">
            Up to {NAME_MAX} characters: a-z, 0-9 and &apos;-&apos;. It becomes part of the store&apos;s address.
          </p>
          {errorText('name')}
        </div>

        <fieldset className="field" aria-describedby={shown('engine') ? 'engine-error' : undefined}>
          <legend>Engine</legend>
          <div className="choices">
            {[
              ['woocommerce', 'WooCommerce', 'WordPress with WooCommerce and MariaDB'],
              ['medusa', 'Medusa', 'Medusa backend with PostgreSQL and Redis'],
            ].map(([value, label, hint], i) => (
              <label key={value} className="choice">
                <input
                  type="radio"
                  name="engine"
                  value={value}
                  ref={
                    i === 0
                      ? (el) => {
                          refs.current.engine = el;
                        }
                      : undefined
                  }
                  checked={form.engine === value}
                  onChange={() => update('engine', value)}
                  onBlur={() => setTouched((t) => ({ ...t, engine: true }))}
                />
                <span>
                  <strong>{label}</strong>
                  <span className="hint">{hint}</span>
                </span>
              </label>
            ))}
          </div>
          {errorText('engine')}
        </fieldset>

        <div className="field">
          <label htmlFor="plan">Plan</label>
          <select
            id="plan"
            name="plan"
            ref={(el) => {
              refs.current.plan = el;
            }}
            value={form.plan}
            aria-invalid={shown('plan') ? true : undefined}
            aria-describedby={describedBy('plan', false)}
            onChange={(e) => update('plan', e.target.value)}
          >
            <option value="small">Small</option>
            <option value="medium">Medium</option>
            <option value="large">Large</option>
          </select>
          {errorText('plan')}
        </div>

        <div className="field">
          <label htmlFor="admin_email">Admin e-mail (optional)</label>
          <input
            id="admin_email"
            name="admin_email"
            type="email"
            ref={(el) => {
              refs.current.admin_email = el;
            }}
            value={form.admin_email}
            maxLength={EMAIL_MAX + 20}
            autoComplete="email"
            aria-invalid={shown('admin_email') ? true : undefined}
            aria-describedby={describedBy('admin_email', true)}
            onChange={(e) => update('admin_email', e.target.value)}
            onBlur={() => setTouched((t) => ({ ...t, admin_email: true }))}
          />
          <p id="admin_email-hint" className="hint">
            The store&apos;s first administrator; leave empty for a generated one.
          </p>
          {errorText('admin_email')}
        </div>

        {realNodeEngines.length > 0 && (
          <div className="field">
            <label className="choice">
              <input
                type="checkbox"
                id="placement"
                name="placement"
                ref={(el) => {
                  refs.current.placement = el;
                }}
                checked={form.placement === 'real-node'}
                aria-invalid={shown('placement') ? true : undefined}
                aria-describedby={describedBy('placement', true)}
                onChange={(e) => {
                  update('placement', e.target.checked ? 'real-node' : 'any');
                  setTouched((t) => ({ ...t, placement: true }));
                }}
              />
              <span>Run on the real node</span>
            </label>
            <p id="placement-hint" className="hint">
              A store that really serves and takes orders, on this platform&apos;s real node (
              {realNodeEngines.join(', ')} only). Other stores run on simulated nodes.
            </p>
            {errorText('placement')}
          </div>
        )}

        {formError && (
          <p id="form-error" className="notice error" role="alert">
            {formError}
          </p>
        )}

        <div className="actions">
          <button type="submit" className="primary" disabled={busy || waiting > 0} aria-busy={busy || undefined}>
            {busy ? 'Creating…' : waiting > 0 ? `Wait ${waiting} s` : 'Create store'}
          </button>
        </div>
      </form>
    </section>
  );
}
