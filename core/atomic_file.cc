#include "core/atomic_file.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>

#include "absl/strings/str_cat.h"

namespace trainyard {
namespace {

// The directory holding `path` ("." for a bare name, "/" for "/name").
std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// A name in `path`'s directory that no other writer in this or another
// process picks: pid, a per-process counter, and the clock (for pid reuse
// across containers sharing a volume). Starting with '.' keeps it out of
// casual listings; the ".tmp" suffix lets a cleaner recognise leftovers of a
// crash.
std::string TempPathFor(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  size_t slash = path.rfind('/');
  std::string dir_prefix =
      slash == std::string::npos ? "" : path.substr(0, slash + 1);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  uint64_t nanos = static_cast<uint64_t>(
      std::chrono::steady_clock::now().time_since_epoch().count());
  return absl::StrCat(dir_prefix, ".", base, ".", ::getpid(), "-",
                      counter.fetch_add(1, std::memory_order_relaxed), "-",
                      nanos % 1000000007, ".tmp");
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path, std::string_view data,
                                 Env* env) {
  if (path.empty() || path.back() == '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot write \"", path, "\": not a file path"));
  }
  std::string temp;
  absl::StatusOr<std::unique_ptr<WritableFile>> file;
  // O_EXCL makes a name collision an error rather than a shared file; a few
  // retries with fresh names cover the (practically impossible) collision.
  for (int attempt = 0; attempt < 8; ++attempt) {
    temp = TempPathFor(path);
    file = env->NewExclusiveFile(temp, kSharedFileMode);
    if (!absl::IsAlreadyExists(file.status())) break;
  }
  if (!file.ok()) return file.status();

  auto fail = [&](absl::Status s) {
    file->reset();
    // The temp file is ours alone and never visible under `path`; if it
    // cannot be removed either, the write's own error is the one to report.
    env->RemoveFile(temp).IgnoreError();
    return s;
  };
  if (absl::Status s = (*file)->Append(data); !s.ok()) return fail(s);
  // The data must be on disk before the rename makes it visible, or a crash
  // could leave `path` naming an empty or partial file.
  if (absl::Status s = (*file)->Sync(); !s.ok()) return fail(s);
  if (absl::Status s = (*file)->Close(); !s.ok()) return fail(s);
  if (absl::Status s = env->RenameFile(temp, path); !s.ok()) return fail(s);

  // The rename itself lives in the directory; without this fsync a crash can
  // bring back the old file (or none) even though we reported success.
  return env->SyncDir(DirectoryOf(path));
}

}  // namespace trainyard
