// Messages: immutable, refcounted, type-checked handles passed between stages.
#pragma once

#include <memory>
#include <string>
#include <typeindex>
#include <typeinfo>

#include "common/errors.h"

namespace vsr {

// The name a message type has in specs, `vsr_flow stages` and DOT output. Specialise it
// with VSR_MESSAGE_TYPE(MyStruct, "MyStruct") next to the struct.
template <class T>
struct MessageName;

#define VSR_MESSAGE_TYPE(T, NAME)              \
  template <>                                  \
  struct vsr::MessageName<T> {                 \
    static constexpr const char* value = NAME; \
  }

// Lifetime token of a message that left a bounded source. Every message derived from it
// holds it; when the last one is gone the source gets its credit back.
struct Ticket;

// A type-erased std::shared_ptr<const T> plus the ticket of the source message it came
// from. Copying is cheap; the payload is never mutated after it is emitted.
class Message {
 public:
  Message() = default;

  template <class T>
  static Message of(std::shared_ptr<const T> payload) {
    Message m;
    m.type_ = &typeid(T);
    m.type_name_ = MessageName<T>::value;
    m.payload_ = std::move(payload);
    return m;
  }
  template <class T>
  static Message make(T value) {
    return of<T>(std::make_shared<const T>(std::move(value)));
  }

  // The payload as T; throws Error if the message holds another type.
  template <class T>
  std::shared_ptr<const T> as() const {
    if (!payload_ || *type_ != typeid(T)) {
      throw RunError(std::string("message of type ") + (payload_ ? type_name_ : "<empty>") +
                     " read as " + MessageName<T>::value);
    }
    return std::static_pointer_cast<const T>(payload_);
  }
  template <class T>
  bool is() const {
    return payload_ && *type_ == typeid(T);
  }

  explicit operator bool() const { return static_cast<bool>(payload_); }
  const char* type_name() const { return type_name_; }
  const std::shared_ptr<Ticket>& ticket() const { return ticket_; }
  void set_ticket(std::shared_ptr<Ticket> t) { ticket_ = std::move(t); }

 private:
  const std::type_info* type_ = &typeid(void);
  const char* type_name_ = "<empty>";
  std::shared_ptr<const void> payload_;
  std::shared_ptr<Ticket> ticket_;
};

}  // namespace vsr
