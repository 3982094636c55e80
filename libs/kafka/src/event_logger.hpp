#pragma once

#include <librdkafka/rdkafkacpp.h>

#include "storefleet/common/log.hpp"

namespace storefleet::kafka {

// Routes librdkafka's own log lines and errors into our JSON logs (instead of raw stderr).
class EventLogger final : public RdKafka::EventCb {
public:
    void event_cb(RdKafka::Event& event) override {
        switch (event.type()) {
            case RdKafka::Event::EVENT_ERROR:
                log::Warn("kafka client error", {{"error", RdKafka::err2str(event.err())},
                                                 {"detail", event.str()},
                                                 {"fatal", event.fatal()}});
                break;
            case RdKafka::Event::EVENT_LOG:
                if (event.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING) {
                    log::Warn("kafka client log",
                              {{"facility", event.fac()}, {"detail", event.str()}});
                } else {
                    log::Debug("kafka client log",
                               {{"facility", event.fac()}, {"detail", event.str()}});
                }
                break;
            default:
                break;
        }
    }
};

// One per process is enough; librdkafka calls it from its own threads (log) or poll().
inline EventLogger& SharedEventLogger() {
    static EventLogger logger;
    return logger;
}

}  // namespace storefleet::kafka
