#include "core/sha256.h"

#include <openssl/evp.h>

#include <cstdlib>
#include <utility>

namespace trainyard {
namespace {

// EVP calls on a valid SHA-256 context fail only when OpenSSL itself is
// broken (out of memory while allocating the context); there is no user input
// that can cause it, so this is an invariant, not a Status.
void CheckEvp(int ok) {
  if (ok != 1) std::abort();
}

}  // namespace

Sha256Hasher::Sha256Hasher() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) std::abort();
  Reset();
}

Sha256Hasher::~Sha256Hasher() { EVP_MD_CTX_free(ctx_); }

Sha256Hasher::Sha256Hasher(Sha256Hasher&& other) noexcept
    : ctx_(std::exchange(other.ctx_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)) {}

Sha256Hasher& Sha256Hasher::operator=(Sha256Hasher&& other) noexcept {
  if (this != &other) {
    EVP_MD_CTX_free(ctx_);
    ctx_ = std::exchange(other.ctx_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void Sha256Hasher::Reset() {
  CheckEvp(EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr));
  bytes_ = 0;
}

void Sha256Hasher::Update(std::string_view data) {
  if (data.empty()) return;
  CheckEvp(EVP_DigestUpdate(ctx_, data.data(), data.size()));
  bytes_ += data.size();
}

Sha256Digest Sha256Hasher::Finish() {
  Sha256Digest digest;
  unsigned int len = 0;
  CheckEvp(EVP_DigestFinal_ex(ctx_, digest.data(), &len));
  if (len != digest.size()) std::abort();
  Reset();
  return digest;
}

Sha256Digest Sha256(std::string_view data) {
  Sha256Digest digest;
  unsigned int len = 0;
  CheckEvp(EVP_Digest(data.data(), data.size(), digest.data(), &len,
                      EVP_sha256(), nullptr));
  if (len != digest.size()) std::abort();
  return digest;
}

std::string DigestToHex(const Sha256Digest& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(2 * digest.size(), '\0');
  for (size_t i = 0; i < digest.size(); ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 0xF];
  }
  return hex;
}

std::string Sha256Hex(std::string_view data) { return DigestToHex(Sha256(data)); }

bool IsLowerHex(std::string_view s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace trainyard
