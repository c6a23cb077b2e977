// SHA-256 (FIPS 180-4) over OpenSSL's EVP interface: one-shot for small
// buffers, and an incremental hasher so the server can hash an upload as its
// chunks stream in without holding the whole file.
#ifndef TRAINYARD_CORE_SHA256_H_
#define TRAINYARD_CORE_SHA256_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

// OpenSSL's context type, forward-declared so this header does not pull in
// the OpenSSL headers.
typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace trainyard {

using Sha256Digest = std::array<uint8_t, 32>;

// The digest of `data`.
Sha256Digest Sha256(std::string_view data);

// The digest of `data` as 64 lowercase hex digits (the form used in file
// names, the API and checkpoint metadata).
std::string Sha256Hex(std::string_view data);

// 64 lowercase hex digits of `digest`.
std::string DigestToHex(const Sha256Digest& digest);

// True when `s` is exactly `n` characters of [0-9a-f] (lower case only, so a
// value has one spelling). The one hex check behind every id: sha256 names,
// dataset and job ids.
bool IsLowerHex(std::string_view s, size_t n);

// True for exactly 64 characters of [0-9a-f]: a sha256 as this project writes
// it. The blob store accepts only such names, so nothing a client sends can
// become a path.
inline bool IsSha256Hex(std::string_view s) { return IsLowerHex(s, 64); }

// Incremental hashing: any split of the input into Update calls gives the same
// digest as Sha256 over the concatenation.
//
//   Sha256Hasher h;
//   for (chunk : upload) h.Update(chunk);
//   std::string hex = h.FinishHex();
//
// Not thread-safe; one hasher per stream. Movable, not copyable; a moved-from
// hasher may only be destroyed or assigned to.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(Sha256Hasher&& other) noexcept;
  Sha256Hasher& operator=(Sha256Hasher&& other) noexcept;
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void Update(std::string_view data);

  // Returns the digest of everything passed to Update and resets the hasher,
  // so it can be reused for a new stream.
  Sha256Digest Finish();
  std::string FinishHex() { return DigestToHex(Finish()); }

  // Bytes passed to Update since construction or the last Finish.
  uint64_t bytes_hashed() const { return bytes_; }

 private:
  void Reset();

  EVP_MD_CTX* ctx_;  // owned; null only after a move
  uint64_t bytes_ = 0;
};

}  // namespace trainyard

#endif  // TRAINYARD_CORE_SHA256_H_
