#pragma once

namespace storefleet::provisioner {

class AdmissionLimit;

// The admission permit a running command holds (admission.hpp), handed to the command's
// handler so the command can give it back once its API-heavy part is done: the provisioner
// does so before it waits for readiness (a shared watch, no API calls), so stores waiting
// for their pods do not keep new ones out. The dispatcher holds one around each command it
// runs; Release is idempotent and the destructor releases what is still held. One thread
// at a time (the worker running the command).
class AdmissionPermit {
public:
    // `admission` null: no permit is held (admission off, or a dead letter).
    explicit AdmissionPermit(AdmissionLimit* admission) : admission_(admission) {}
    ~AdmissionPermit() { Release(); }
    AdmissionPermit(const AdmissionPermit&) = delete;
    AdmissionPermit& operator=(const AdmissionPermit&) = delete;
    void Release();

private:
    AdmissionLimit* admission_;
};

}  // namespace storefleet::provisioner
