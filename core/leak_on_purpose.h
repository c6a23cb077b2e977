// Marks a heap object that is never freed by design, so that LeakSanitizer
// (ASan's leak check, on in the sanitizer build and the fuzzers) does not
// report it. The one such object today: a trainer or predictor an allocation
// failure left holding a dangling Eigen buffer, which cannot be destroyed
// safely (server/job_runner.cc, server/inference.cc; issue 9 class 13).
//
//   Trainer* leaked = trainer.release();
//   LeakOnPurpose(leaked);
//
// Everything reachable from the object is ignored with it. Without a
// sanitizer runtime this is a no-op. Objects held by a static pointer need no
// mark: LSan treats globals as roots.
#ifndef TRAINYARD_CORE_LEAK_ON_PURPOSE_H_
#define TRAINYARD_CORE_LEAK_ON_PURPOSE_H_

// The sanitizer runtimes (ASan, LSan) define it; a weak reference is null
// when none is linked, so no build flag has to say which runtime is there.
extern "C" void __lsan_ignore_object(const void* p) __attribute__((weak));

namespace trainyard {

// Returns `object`, after telling LSan (when present) not to report it.
template <typename T>
T* LeakOnPurpose(T* object) {
  if (__lsan_ignore_object != nullptr && object != nullptr) __lsan_ignore_object(object);
  return object;
}

}  // namespace trainyard

#endif  // TRAINYARD_CORE_LEAK_ON_PURPOSE_H_
