"""Projects, members and invitations over HTTP (TEN-05, TEN-06)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx2
import pyotp
import pytest
import sqlalchemy as sa
import time_machine

from tests.auth.test_two_factor import enable
from tests.factories import PASSWORD, Factory
from tests.ingest.helpers import count_rows, event, rows_per_table
from whowhywhen.db import Database
from whowhywhen.models import BATCH_TABLES, Endpoint, IngestOutcome
from whowhywhen.models.enums import Role


class TestProjects:
    async def test_create_list_rename_and_read(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        user = await factory.user()
        headers = await factory.auth_headers(user)
        created = await client.post("/dashapi/projects", headers=headers, json={"name": " Shop "})
        assert created.status_code == 201
        project = created.json()
        assert (project["name"], project["role"]) == ("Shop", "owner")
        url = f"/dashapi/projects/{project['id']}"
        renamed = await client.patch(
            url, headers=headers, json={"name": "Shop API", "timezone": "Europe/Berlin"}
        )
        assert (renamed.json()["name"], renamed.json()["timezone"]) == ("Shop API", "Europe/Berlin")
        bad_zone = await client.patch(url, headers=headers, json={"timezone": "Mars/Olympus"})
        assert bad_zone.status_code == 422
        settings = await client.patch(
            url,
            headers=headers,
            json={"apdex_t_ms": 250, "retention_days": 14, "anonymize_ip": True},
        )
        assert {
            k: settings.json()[k] for k in ("apdex_t_ms", "retention_days", "anonymize_ip")
        } == {
            "apdex_t_ms": 250,
            "retention_days": 14,
            "anonymize_ip": True,
        }
        bad_apdex = await client.patch(url, headers=headers, json={"apdex_t_ms": 0})
        assert bad_apdex.status_code == 422
        listed = await client.get("/dashapi/projects", headers=headers)
        assert [p["name"] for p in listed.json()["items"]] == ["Shop API"]
        assert (await client.get(url, headers=headers)).json()["role"] == "owner"

    @pytest.mark.parametrize(
        "payload", [{}, {"name": ""}, {"name": "x" * 201}, {"name": "ok", "owner_id": 1}]
    )
    async def test_invalid_payloads_are_422(
        self, client: httpx2.AsyncClient, factory: Factory, payload: dict[str, object]
    ) -> None:
        headers = await factory.auth_headers(await factory.user())
        response = await client.post("/dashapi/projects", headers=headers, json=payload)
        assert response.status_code == 422
        assert response.json()["detail"][0]["msg"]

    async def test_anonymous_listing_is_401(self, client: httpx2.AsyncClient) -> None:
        assert (await client.get("/dashapi/projects")).status_code == 401
        assert (await client.post("/dashapi/projects", json={"name": "x"})).status_code == 401

    async def test_delete_needs_the_exact_name_and_removes_the_data(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project(name="Billing")
        other = await factory.project(name="Other")
        headers = await factory.auth_headers(project.user)
        url = f"/dashapi/projects/{project.id}"
        for logging_project in (project, other):
            logged = await client.post("/api/log", headers=logging_project.headers, json=event())
            assert logged.status_code == 202
        wrong = await client.request(
            "DELETE", url, headers=headers, json={"confirm_name": "bill", "password": PASSWORD}
        )
        assert wrong.status_code == 400
        done = await client.request(
            "DELETE", url, headers=headers, json={"confirm_name": "Billing", "password": PASSWORD}
        )
        assert done.status_code == 204
        assert (await client.get(url, headers=headers)).status_code == 404
        gone = await client.post("/api/log", headers=project.headers, json=event())
        assert gone.status_code == 401  # the keys die with the project
        left = await rows_per_table(db, project.id, (*BATCH_TABLES, IngestOutcome, Endpoint))
        assert left == dict.fromkeys(left, 0)
        assert await count_rows(db, other.id) == 1  # another project's data stays


class TestMembers:
    async def test_roles_change_on_the_next_request(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project()
        admin = await factory.member(project.id, Role.admin)
        owner_headers = await factory.auth_headers(project.user)
        admin_headers = await factory.auth_headers(admin)
        keys = f"/dashapi/projects/{project.id}/apikeys"
        assert (await client.get(keys, headers=admin_headers)).status_code == 200
        demoted = await client.patch(
            f"/dashapi/projects/{project.id}/members/{admin.id}",
            headers=owner_headers,
            json={"role": "viewer"},
        )
        assert demoted.json()["role"] == "viewer"
        assert (await client.get(keys, headers=admin_headers)).status_code == 403
        removed = await client.delete(
            f"/dashapi/projects/{project.id}/members/{admin.id}", headers=owner_headers
        )
        assert removed.status_code == 204
        response = await client.get(f"/dashapi/projects/{project.id}", headers=admin_headers)
        assert response.status_code == 404

    async def test_members_list_shows_roles(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project()
        viewer = await factory.member(project.id, Role.viewer)
        response = await client.get(
            f"/dashapi/projects/{project.id}/members", headers=await factory.auth_headers(viewer)
        )
        roles = {item["email"]: item["role"] for item in response.json()["items"]}
        assert roles == {project.user.email: "owner", viewer.email: "viewer"}

    async def test_an_admin_cannot_touch_owners(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project()
        admin = await factory.member(project.id, Role.admin)
        headers = await factory.auth_headers(admin)
        url = f"/dashapi/projects/{project.id}/members/{project.user.id}"
        assert (await client.delete(url, headers=headers)).status_code == 403
        promote = await client.patch(
            f"/dashapi/projects/{project.id}/members/{admin.id}",
            headers=headers,
            json={"role": "owner"},
        )
        assert promote.status_code == 403
        bad = await client.patch(url, headers=headers, json={"role": "king"})
        assert bad.status_code == 422

    async def test_the_last_owner_cannot_leave_or_be_demoted(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project()
        headers = await factory.auth_headers(project.user)
        leave = await client.post(f"/dashapi/projects/{project.id}/leave", headers=headers)
        assert leave.status_code == 409
        demote = await client.patch(
            f"/dashapi/projects/{project.id}/members/{project.user.id}",
            headers=headers,
            json={"role": "admin"},
        )
        assert demote.status_code == 409

    async def test_transfer_then_the_old_owner_can_leave(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project()
        heir = await factory.member(project.id, Role.member)
        headers = await factory.auth_headers(project.user)
        moved = await client.post(
            f"/dashapi/projects/{project.id}/transfer",
            headers=headers,
            json={"user_id": heir.id, "password": PASSWORD},
        )
        assert moved.status_code == 204
        heir_view = await client.get(
            f"/dashapi/projects/{project.id}", headers=await factory.auth_headers(heir)
        )
        assert heir_view.json()["role"] == "owner"
        assert (await client.get(f"/dashapi/projects/{project.id}", headers=headers)).json()[
            "role"
        ] == "admin"
        leave = await client.post(f"/dashapi/projects/{project.id}/leave", headers=headers)
        assert leave.status_code == 204

    async def test_transfer_to_a_stranger_is_404(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project()
        stranger = await factory.user()
        response = await client.post(
            f"/dashapi/projects/{project.id}/transfer",
            headers=await factory.auth_headers(project.user),
            json={"user_id": stranger.id, "password": PASSWORD},
        )
        assert response.status_code == 404


class TestReauthentication:
    """AUTH-10: deleting a project and transferring it need the password (and a 2FA code when 2FA
    is on) in the same request; a valid session alone is not enough."""

    async def test_delete_needs_the_password(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project(name="Billing")
        headers = await factory.auth_headers(project.user)
        url = f"/dashapi/projects/{project.id}"
        missing = await client.request(
            "DELETE", url, headers=headers, json={"confirm_name": "Billing"}
        )
        assert missing.status_code == 422
        assert "password" in str(missing.json()["detail"])
        wrong = await client.request(
            "DELETE",
            url,
            headers=headers,
            json={"confirm_name": "Billing", "password": "not my password"},
        )
        assert wrong.status_code == 403
        assert wrong.json()["detail"] == "password: incorrect password"
        assert (await client.get(url, headers=headers)).status_code == 200
        done = await client.request(
            "DELETE", url, headers=headers, json={"confirm_name": "Billing", "password": PASSWORD}
        )
        assert done.status_code == 204

    async def test_a_google_only_account_is_told_to_set_a_password(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project(name="Billing")
        async with db.session() as session:
            await session.execute(
                sa.text("UPDATE users SET password_hash = NULL WHERE id = :id"),
                {"id": project.user.id},
            )
            await session.commit()
        headers = await factory.auth_headers(project.user)
        url = f"/dashapi/projects/{project.id}"
        refused = await client.request(
            "DELETE", url, headers=headers, json={"confirm_name": "Billing", "password": "x"}
        )
        assert refused.status_code == 403
        assert "set a password first" in refused.json()["detail"]
        assert (await client.get(url, headers=headers)).status_code == 200

    async def test_transfer_needs_the_password(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project()
        heir = await factory.member(project.id, Role.member)
        headers = await factory.auth_headers(project.user)
        url = f"/dashapi/projects/{project.id}/transfer"
        missing = await client.post(url, headers=headers, json={"user_id": heir.id})
        assert missing.status_code == 422
        wrong = await client.post(
            url, headers=headers, json={"user_id": heir.id, "password": "not my password"}
        )
        assert wrong.status_code == 403
        members = await client.get(f"/dashapi/projects/{project.id}/members", headers=headers)
        roles = {m["user_id"]: m["role"] for m in members.json()["items"]}
        assert roles == {project.user.id: "owner", heir.id: "member"}

    async def test_with_two_factor_on_both_also_need_a_current_code(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project(name="Billing")
        heir = await factory.member(project.id, Role.admin)
        secret, _ = await enable(client, factory, project.user)
        url = f"/dashapi/projects/{project.id}"
        with time_machine.travel(datetime.now(UTC) + timedelta(seconds=30)):
            headers = await factory.auth_headers(project.user)
            body = {"confirm_name": "Billing", "password": PASSWORD}
            for code in (None, "000000"):
                refused = await client.request(
                    "DELETE", url, headers=headers, json={**body, "code": code}
                )
                assert refused.status_code == 403
                assert refused.json()["detail"].startswith("code:")
                transfer = await client.post(
                    f"{url}/transfer",
                    headers=headers,
                    json={"user_id": heir.id, "password": PASSWORD, "code": code},
                )
                assert transfer.status_code == 403
            moved = await client.post(
                f"{url}/transfer",
                headers=headers,
                json={"user_id": heir.id, "password": PASSWORD, "code": pyotp.TOTP(secret).now()},
            )
            assert moved.status_code == 204, moved.text
        heir_headers = await factory.auth_headers(heir)
        assert (await client.get(url, headers=heir_headers)).json()["role"] == "owner"

    async def test_wrong_passwords_count_against_the_reauthentication_limit(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project(name="Billing")
        headers = await factory.auth_headers(project.user)
        url = f"/dashapi/projects/{project.id}"
        for _ in range(5):
            wrong = await client.request(
                "DELETE", url, headers=headers, json={"confirm_name": "Billing", "password": "x"}
            )
            assert wrong.status_code == 403
        limited = await client.request(
            "DELETE", url, headers=headers, json={"confirm_name": "Billing", "password": PASSWORD}
        )
        assert limited.status_code == 429
        assert "Retry-After" in limited.headers
        assert (await client.get(url, headers=headers)).status_code == 200


class TestInvitations:
    async def test_invite_and_accept_once_as_the_invited_email(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project()
        invitee = await factory.user()
        other = await factory.user()
        created = await client.post(
            f"/dashapi/projects/{project.id}/invitations",
            headers=await factory.auth_headers(project.user),
            json={"email": invitee.email, "role": "member"},
        )
        assert created.status_code == 201, created.text
        token = created.json()["accept_url"].split("#token=")[1]
        wrong_user = await client.post(
            "/dashapi/invitations/accept",
            headers=await factory.auth_headers(other),
            json={"token": token},
        )
        assert wrong_user.status_code == 403
        invitee_headers = await factory.auth_headers(invitee)
        accepted = await client.post(
            "/dashapi/invitations/accept", headers=invitee_headers, json={"token": token}
        )
        assert accepted.status_code == 200, accepted.text
        assert (accepted.json()["id"], accepted.json()["role"]) == (project.id, "member")
        again = await client.post(
            "/dashapi/invitations/accept", headers=invitee_headers, json={"token": token}
        )
        assert again.status_code == 400

    async def test_expired_and_revoked_invitations_are_400(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project()
        invitee = await factory.user()
        owner = await factory.auth_headers(project.user)
        url = f"/dashapi/projects/{project.id}/invitations"
        first = (await client.post(url, headers=owner, json={"email": invitee.email})).json()
        second = (await client.post(url, headers=owner, json={"email": invitee.email})).json()
        listed = await client.get(url, headers=owner)
        assert listed.json()["total"] == 2
        assert "token" not in str(listed.json())
        assert (await client.delete(f"{url}/{second['id']}", headers=owner)).status_code == 204
        invitee_headers = await factory.auth_headers(invitee)
        revoked = await client.post(
            "/dashapi/invitations/accept",
            headers=invitee_headers,
            json={"token": second["accept_url"].split("#token=")[1]},
        )
        assert revoked.status_code == 400
        with time_machine.travel(datetime.now(UTC) + timedelta(days=7, minutes=1)):
            expired = await client.post(
                "/dashapi/invitations/accept",
                headers=await factory.auth_headers(invitee),
                json={"token": first["accept_url"].split("#token=")[1]},
            )
        assert expired.status_code == 400

    async def test_inviting_as_owner_or_a_bad_email_is_422(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project()
        owner = await factory.auth_headers(project.user)
        url = f"/dashapi/projects/{project.id}/invitations"
        as_owner = await client.post(
            url, headers=owner, json={"email": "a@example.com", "role": "owner"}
        )
        assert as_owner.status_code == 422
        bad = await client.post(url, headers=owner, json={"email": "nope"})
        assert bad.status_code == 422
        anonymous = await client.post("/dashapi/invitations/accept", json={"token": "x" * 43})
        assert anonymous.status_code == 401
