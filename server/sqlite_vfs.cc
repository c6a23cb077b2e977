#include "server/sqlite_vfs.h"

#include <sqlite3.h>

#include <cerrno>
#include <map>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"

namespace trainyard::server::sqlite {
namespace {

// One registered VFS: SQLite's struct first, so SQLite's sqlite3_vfs* is
// ours, plus what the callbacks need.
struct EnvVfs {
  sqlite3_vfs vfs;
  sqlite3_vfs* real;  // the default VFS everything is delegated to
  Env* env;
  std::string name;
};

// One open file: SQLite allocates szOsFile bytes and hands them to xOpen;
// ours is this header followed by the default VFS's own file object.
struct EnvFile {
  sqlite3_file base;  // first: SQLite's sqlite3_file* is ours
  Env* env;
  const char* path;  // SQLite's string, valid until xClose; "" for temp files
  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};
static_assert(sizeof(EnvFile) % 8 == 0,
              "the real file object after EnvFile must stay 8-byte aligned");

EnvFile* As(sqlite3_file* f) { return reinterpret_cast<EnvFile*>(f); }
sqlite3_file* Real(sqlite3_file* f) { return As(f)->real(); }
const sqlite3_io_methods* M(sqlite3_file* f) { return Real(f)->pMethods; }
EnvVfs* Shim(sqlite3_vfs* v) { return static_cast<EnvVfs*>(v->pAppData); }

// The SQLite code for an errno the Env chose for an operation: a full disk
// must read as SQLITE_FULL ("database or disk is full"), a read-only one as
// SQLITE_READONLY (as SQLite's own VFS reports a database it could only open
// read-only), the rest as the operation's I/O error.
int Refused(int err, int io_error) {
  if (err == ENOSPC || err == EDQUOT || err == EFBIG) return SQLITE_FULL;
  if (err == EROFS || err == EACCES || err == EPERM) return SQLITE_READONLY;
  return io_error;
}

// ------------------------------------------------------------ io methods

int Close(sqlite3_file* f) { return M(f)->xClose(Real(f)); }
int Read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  return M(f)->xRead(Real(f), buf, n, off);
}
int Write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  if (int err = As(f)->env->CheckForeignWrite(FileOp::kWrite, As(f)->path, n)) {
    return Refused(err, SQLITE_IOERR_WRITE);
  }
  return M(f)->xWrite(Real(f), buf, n, off);
}
int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  if (int err = As(f)->env->CheckForeignWrite(FileOp::kTruncate, As(f)->path, 0)) {
    return Refused(err, SQLITE_IOERR_TRUNCATE);
  }
  return M(f)->xTruncate(Real(f), size);
}
int Sync(sqlite3_file* f, int flags) {
  if (int err = As(f)->env->CheckForeignWrite(FileOp::kSync, As(f)->path, 0)) {
    return Refused(err, SQLITE_IOERR_FSYNC);
  }
  return M(f)->xSync(Real(f), flags);
}
int FileSize(sqlite3_file* f, sqlite3_int64* size) { return M(f)->xFileSize(Real(f), size); }
int Lock(sqlite3_file* f, int level) { return M(f)->xLock(Real(f), level); }
int Unlock(sqlite3_file* f, int level) { return M(f)->xUnlock(Real(f), level); }
int CheckReservedLock(sqlite3_file* f, int* out) {
  return M(f)->xCheckReservedLock(Real(f), out);
}
int FileControl(sqlite3_file* f, int op, void* arg) {
  return M(f)->xFileControl(Real(f), op, arg);
}
int SectorSize(sqlite3_file* f) { return M(f)->xSectorSize(Real(f)); }
int DeviceCharacteristics(sqlite3_file* f) { return M(f)->xDeviceCharacteristics(Real(f)); }
// The WAL index (-shm) is shared memory, not writes: passed through.
int ShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  if (M(f)->iVersion < 2 || M(f)->xShmMap == nullptr) return SQLITE_IOERR_SHMMAP;
  return M(f)->xShmMap(Real(f), region, size, extend, out);
}
int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
  if (M(f)->iVersion < 2 || M(f)->xShmLock == nullptr) return SQLITE_IOERR_SHMLOCK;
  return M(f)->xShmLock(Real(f), offset, n, flags);
}
void ShmBarrier(sqlite3_file* f) {
  if (M(f)->iVersion >= 2 && M(f)->xShmBarrier != nullptr) M(f)->xShmBarrier(Real(f));
}
int ShmUnmap(sqlite3_file* f, int delete_flag) {
  if (M(f)->iVersion < 2 || M(f)->xShmUnmap == nullptr) return SQLITE_OK;
  return M(f)->xShmUnmap(Real(f), delete_flag);
}
int Fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
  // No memory map: SQLite then reads through xRead.
  if (M(f)->iVersion < 3 || M(f)->xFetch == nullptr) {
    *out = nullptr;
    return SQLITE_OK;
  }
  return M(f)->xFetch(Real(f), off, n, out);
}
int Unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  if (M(f)->iVersion < 3 || M(f)->xUnfetch == nullptr) return SQLITE_OK;
  return M(f)->xUnfetch(Real(f), off, p);
}

const sqlite3_io_methods kIoMethods = {
    3,          Close,   Read,     Write,      Truncate,   Sync,
    FileSize,   Lock,    Unlock,   CheckReservedLock,      FileControl,
    SectorSize, DeviceCharacteristics,         ShmMap,     ShmLock,
    ShmBarrier, ShmUnmap, Fetch,   Unfetch,
};

// ----------------------------------------------------------- vfs methods

int Open(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  EnvVfs* shim = Shim(vfs);
  EnvFile* file = As(f);
  file->base.pMethods = nullptr;
  file->env = shim->env;
  file->path = name != nullptr ? name : "";
  file->real()->pMethods = nullptr;
  int rc = shim->real->xOpen(shim->real, name, file->real(), flags, out_flags);
  // SQLite calls xClose exactly when pMethods is set, so mirror the real
  // file: set on success, and on a failure that still needs closing.
  if (file->real()->pMethods != nullptr) file->base.pMethods = &kIoMethods;
  return rc;
}
int Delete(sqlite3_vfs* v, const char* name, int sync_dir) {
  return Shim(v)->real->xDelete(Shim(v)->real, name, sync_dir);
}
int Access(sqlite3_vfs* v, const char* name, int flags, int* out) {
  return Shim(v)->real->xAccess(Shim(v)->real, name, flags, out);
}
int FullPathname(sqlite3_vfs* v, const char* name, int n, char* out) {
  return Shim(v)->real->xFullPathname(Shim(v)->real, name, n, out);
}
void* DlOpen(sqlite3_vfs* v, const char* name) {
  return Shim(v)->real->xDlOpen(Shim(v)->real, name);
}
void DlError(sqlite3_vfs* v, int n, char* out) { Shim(v)->real->xDlError(Shim(v)->real, n, out); }
void (*DlSym(sqlite3_vfs* v, void* handle, const char* symbol))(void) {
  return Shim(v)->real->xDlSym(Shim(v)->real, handle, symbol);
}
void DlClose(sqlite3_vfs* v, void* handle) { Shim(v)->real->xDlClose(Shim(v)->real, handle); }
int Randomness(sqlite3_vfs* v, int n, char* out) {
  return Shim(v)->real->xRandomness(Shim(v)->real, n, out);
}
int Sleep(sqlite3_vfs* v, int micros) { return Shim(v)->real->xSleep(Shim(v)->real, micros); }
int CurrentTime(sqlite3_vfs* v, double* out) {
  return Shim(v)->real->xCurrentTime(Shim(v)->real, out);
}
int GetLastError(sqlite3_vfs* v, int n, char* out) {
  return Shim(v)->real->xGetLastError(Shim(v)->real, n, out);
}
int CurrentTimeInt64(sqlite3_vfs* v, sqlite3_int64* out) {
  return Shim(v)->real->xCurrentTimeInt64(Shim(v)->real, out);
}

struct Registry {
  absl::Mutex mu;
  // Never erased: SQLite keeps a pointer to each registered VFS.
  std::map<Env*, std::unique_ptr<EnvVfs>> by_env ABSL_GUARDED_BY(mu);
};

Registry& GetRegistry() {
  static Registry* const registry = new Registry;  // leaked, like the VFSes
  return *registry;
}

}  // namespace

absl::StatusOr<std::string> VfsFor(Env* env) {
  Registry& registry = GetRegistry();
  absl::MutexLock lock(&registry.mu);
  if (auto it = registry.by_env.find(env); it != registry.by_env.end()) {
    return it->second->name;
  }
  sqlite3_vfs* real = sqlite3_vfs_find(nullptr);
  if (real == nullptr) return absl::InternalError("SQLite has no default VFS");
  if (real->iVersion < 2) {
    return absl::InternalError("SQLite's default VFS is too old (iVersion < 2)");
  }
  auto shim = std::make_unique<EnvVfs>();
  shim->real = real;
  shim->env = env;
  // The address makes the name unique among live Envs; a later Env at a
  // freed one's address reuses its VFS, which then points at the new Env.
  shim->name = absl::StrFormat("trainyard-env-%p", static_cast<void*>(env));
  sqlite3_vfs& v = shim->vfs;
  v = sqlite3_vfs{};
  v.iVersion = 2;  // xCurrentTimeInt64; the v3 system-call hooks stay unset
  v.szOsFile = static_cast<int>(sizeof(EnvFile)) + real->szOsFile;
  v.mxPathname = real->mxPathname;
  v.zName = shim->name.c_str();
  v.pAppData = shim.get();
  v.xOpen = Open;
  v.xDelete = Delete;
  v.xAccess = Access;
  v.xFullPathname = FullPathname;
  v.xDlOpen = DlOpen;
  v.xDlError = DlError;
  v.xDlSym = DlSym;
  v.xDlClose = DlClose;
  v.xRandomness = Randomness;
  v.xSleep = Sleep;
  v.xCurrentTime = CurrentTime;
  v.xGetLastError = GetLastError;
  v.xCurrentTimeInt64 = CurrentTimeInt64;
  if (int rc = sqlite3_vfs_register(&v, /*makeDflt=*/0); rc != SQLITE_OK) {
    return absl::InternalError(
        absl::StrFormat("cannot register SQLite VFS: %s", sqlite3_errstr(rc)));
  }
  std::string name = shim->name;
  registry.by_env.emplace(env, std::move(shim));
  return name;
}

}  // namespace trainyard::server::sqlite
