from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

# Lengths are checked by the service so the message says what the policy is; the caps here only
# bound the work a request can cause.
Password = Field(min_length=1, max_length=4096)
BEARER = "bearer"


class Register(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=200)
    email: str = Field(max_length=320)
    password: str = Password
    project_name: str | None = Field(
        default=None, max_length=200, description="Also create a first project with this name."
    )


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    password: str = Password


class Token(BaseModel):
    """A signed-in answer, or the challenge for the 2FA step when `totp_required`."""

    access_token: str | None = None
    token_type: str | None = None
    expires_in: int | None = Field(default=None, description="Seconds the access token lives.")
    totp_required: bool = False
    challenge_token: str | None = Field(
        default=None, description="Only for /dashauth/2fa/verify; lives 5 minutes."
    )


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str | None = Field(
        default=None,
        max_length=200,
        description="For clients without cookies; browsers send the cookie instead.",
    )


class User(BaseModel):
    id: int
    email: str
    name: str
    created_at: datetime
    two_factor_enabled: bool
    has_password: bool


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)


class Session(BaseModel):
    id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    method: str
    ip: str | None
    user_agent: str | None
    current: bool


class SessionList(BaseModel):
    items: list[Session]
    total: int


class ChangePassword(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Password
    new_password: str = Password
    code: str | None = Field(
        default=None,
        min_length=6,
        max_length=10,
        description="A current code from the authenticator app; required when 2FA is on.",
    )


class ForgotPassword(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)


class ResetPassword(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=10, max_length=200)
    new_password: str = Password


class Message(BaseModel):
    detail: str


class TotpSetup(BaseModel):
    otpauth_uri: str = Field(description="For authenticator apps; shown once, during setup.")
    qr_svg: str = Field(description="The same URI as an inline SVG QR code.")


class TotpCode(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=6, max_length=10)


class TotpVerify(BaseModel):
    model_config = ConfigDict(extra="forbid")

    challenge_token: str | None = Field(
        default=None, max_length=200, description="From /dashauth/token; or the cookie after OIDC."
    )
    code: str | None = Field(default=None, min_length=6, max_length=10)
    recovery_code: str | None = Field(default=None, min_length=10, max_length=20)


class TotpDisable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Password
    code: str = Field(min_length=6, max_length=10)


class RecoveryCodes(BaseModel):
    recovery_codes: list[str] = Field(description="Shown once; each works once.")


class TotpEnabled(RecoveryCodes):
    access_token: str
    token_type: str = BEARER
    expires_in: int


class OAuthProviders(BaseModel):
    google: bool = Field(description="True when Google (OIDC) sign-in is configured.")
