// Authenticator: UNAUTHENTICATED as an absl::Status that reaches the client
// through the one converter (server/status_util.h) with its code and message,
// and the token file read.
#include "server/auth.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "server/status_util.h"

namespace trainyard::server {
namespace {

TEST(AuthenticatorTest, WrongOrMissingTokenIsUnauthenticatedThroughTheConverter) {
  const Authenticator auth("s3cret");
  EXPECT_TRUE(auth.CheckHeader("Bearer s3cret").ok());
  for (const char* header : {"", "Bearer wrong!", "s3cret", "Bearer s3cre", "bearer s3cret"}) {
    absl::Status s = auth.CheckHeader(header);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << header;
    const grpc::Status g = ToGrpcStatus(s);
    EXPECT_EQ(g.error_code(), grpc::StatusCode::UNAUTHENTICATED) << header;
    EXPECT_EQ(g.error_message(), "missing or wrong \"authorization: Bearer <token>\" metadata");
  }
}

TEST(AuthenticatorTest, NoTokenAllowsEverything) {
  const Authenticator off;
  EXPECT_FALSE(off.enabled());
  EXPECT_TRUE(off.CheckHeader("").ok());
  EXPECT_TRUE(off.CheckHeader("Bearer anything").ok());
}

TEST(AuthenticatorTest, TokenFileIsTrimmedAndUnreadableOrEmptyNamesTheFlag) {
  std::string tmpl = std::filesystem::temp_directory_path().string() + "/trainyard_auth_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  const std::string dir = tmpl;
  std::ofstream(dir + "/token") << "  tok-1\n";
  std::ofstream(dir + "/empty") << " \n";
  absl::StatusOr<Authenticator> auth = Authenticator::FromFile(dir + "/token");
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_TRUE(auth->CheckHeader("Bearer tok-1").ok());
  for (const std::string& path : {dir + "/missing", dir + "/empty"}) {
    absl::StatusOr<Authenticator> bad = Authenticator::FromFile(path);
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << path;
    EXPECT_NE(bad.status().message().find("--auth-token-file"), std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace trainyard::server
