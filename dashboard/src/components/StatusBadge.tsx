import type { StoreCondition, StoreStatus } from '../lib/api';
import { CONDITION_LABEL, shownStep, STATUS_LABEL, STEPS, stepProgress } from '../lib/format';

export function StatusBadge({ status }: { status: StoreStatus }) {
  return (
    <span className={`badge badge-${status}`} data-status={status}>
      {STATUS_LABEL[status] ?? status}
    </span>
  );
}

/** The current provisioning step as a progress bar, with the step named in text too. */
export function StepProgress({ status, step }: { status: string; step: string | null }) {
  if (status === 'provisioning' || status === 'requested') {
    const index = step ? STEPS.indexOf(step as (typeof STEPS)[number]) : -1;
    const value = Math.round(stepProgress(status, step) * 100);
    const label = status === 'requested' ? 'Waiting to start' : `Step ${index + 1} of ${STEPS.length}: ${step ?? '…'}`;
    return (
      <div className="progress">
        <div
          className="progress-track"
          role="progressbar"
          aria-label="Provisioning progress"
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={value}
          aria-valuetext={label}
        >
          <div className="progress-fill" style={{ width: `${Math.max(value, 4)}%` }} />
        </div>
        <span className="progress-label">{label}</span>
      </div>
    );
  }
  const shown = shownStep(step);
  if (status === 'deleting') return <span className="progress-label">Removing{shown ? `: ${shown}` : '…'}</span>;
  if (status === 'ready') return <span className="progress-label">All steps done</span>;
  if (status === 'suspended') return <span className="progress-label">Scaled to zero</span>;
  if (status === 'deleted') return <span className="progress-label">Gone</span>;
  return <span className="progress-label">{shown ? `Stopped at ${shown}` : '—'}</span>;
}

/** The store's condition (in sync, converging, ...) with its message as the title and in text for screen readers. */
export function ConditionBadge({ condition }: { condition: StoreCondition }) {
  return (
    <span className={`condition condition-${condition.state}`} data-condition={condition.state} title={condition.message}>
      {CONDITION_LABEL[condition.state] ?? condition.state}
      {condition.message && <span className="visually-hidden">: {condition.message}</span>}
    </span>
  );
}
