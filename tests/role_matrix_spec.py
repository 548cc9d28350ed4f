"""SPEC's role matrix ("Users and roles") transcribed by hand onto SPEC's route table.

Data only, read by the role × route matrix tests: the expected status of every route for
every kind of caller. Nothing here is computed from ``chalicelib`` (its permission module is
what these expectations check).
"""

from __future__ import annotations

#: Column order: the five roles of an agency (Agency Member and the sub-account roles granted
#: one secondary sub-account, which the sub-account routes target), an anonymous caller,
#: the owner of another agency, the platform key (not a user).
COLUMNS = ("owner", "agency_admin", "agency_member", "subaccount_admin", "subaccount_member",
           "anonymous", "other_agency", "platform")

#: One line per route, one status per column of ``COLUMNS``; ``{S}`` stands for
#: ``/v1/subaccounts/{subaccount_id}`` (the caller's granted sub-account; another agency's
#: owner gets 404 for it). Comments quote the row of SPEC's matrix each block comes from.
SPEC_MATRIX = """
#                                                      own adm mem sad smb ano oth plf
# identity ("users & invitations": Owner, Admin; "transfer ownership, delete agency": Owner)
GET    /v1/me                                          200 200 200 200 200 401 200 401
POST   /v1/auth/logout                                 204 204 204 204 204 401 204 401
GET    /v1/users                                       200 200 403 403 403 401 200 401
POST   /v1/users                                       201 201 403 403 403 401 201 401
PATCH  /v1/users/{user_id}                             200 200 403 403 403 401 404 401
DELETE /v1/users/{user_id}                             204 204 403 403 403 401 404 401
GET    /v1/invitations                                 200 200 403 403 403 401 200 401
POST   /v1/invitations                                 201 201 403 403 403 401 201 401
POST   /v1/invitations/{invitation_id}/resend          200 200 403 403 403 401 404 401
DELETE /v1/invitations/{invitation_id}                 204 204 403 403 403 401 404 401
GET    /v1/audit-log                                   200 200 403 403 403 401 200 401
GET    /v1/notifications                               200 200 200 200 200 401 200 401
# the agency ("agency settings, plan, Connect, payouts, profit": Owner, Admin; Member views
# the overview; sub-account roles get 403 on GET /v1/agency)
GET    /v1/agency                                      200 200 200 403 403 401 200 401
PATCH  /v1/agency                                      200 200 403 403 403 401 200 401
POST   /v1/agency/ownership-transfer                   200 403 403 403 403 401 404 401
DELETE /v1/agency                                      204 403 403 403 403 401 204 401
GET    /v1/agency/overview                             200 200 200 403 403 401 200 401
GET    /v1/agency/connect                              200 200 403 403 403 401 200 401
POST   /v1/agency/connect/onboarding                   200 200 403 403 403 401 200 401
POST   /v1/agency/connect/dashboard-link               200 200 403 403 403 401 200 401
GET    /v1/agency/payouts                              200 200 403 403 403 401 200 401
# sub-accounts ("create / remove / suspend / restore sub-accounts, set prices": Owner, Admin)
GET    /v1/subaccounts                                 200 200 200 200 200 401 200 401
POST   /v1/subaccounts                                 201 201 403 403 403 401 201 401
GET    {S}                                             200 200 200 200 200 401 404 401
PATCH  {S}                                             200 200 403 403 403 401 404 401
POST   {S}/suspend                                     200 200 403 403 403 401 404 401
POST   {S}/restore                                     200 200 403 403 403 401 404 401
GET    {S}/removal                                     200 200 403 403 403 401 404 401
POST   {S}/removal                                     200 200 403 403 403 401 404 401
GET    {S}/wallet                                      200 200 200 200 200 401 404 401
GET    {S}/activity                                    200 200 200 200 200 401 404 401
# moves ("move minutes": Owner, Admin, Member between accounts granted; sub-account roles no)
POST   /v1/transfers/quotes                            201 201 201 403 403 401 404 401
POST   /v1/transfers                                   201 201 201 403 403 401 404 401
GET    /v1/transfers                                   200 200 200 200 200 401 200 401
# payments ("cards, purchases, auto-recharge": every role on what it was granted;
# "auto-allocation rules": Owner, Admin)
GET    {S}/payment-methods                             200 200 200 200 200 401 404 401
POST   {S}/payment-methods                             201 201 201 201 201 401 404 401
DELETE {S}/payment-methods/{payment_method_id}         204 204 204 204 204 401 404 401
POST   {S}/payment-methods/{payment_method_id}/default 200 200 200 200 200 401 404 401
POST   {S}/purchases                                   201 201 201 201 201 401 404 401
GET    {S}/auto-allocation                             200 200 403 403 403 401 404 401
PUT    {S}/auto-allocation                             200 200 403 403 403 401 404 401
DELETE {S}/auto-allocation                             204 204 403 403 403 401 404 401
GET    {S}/auto-recharge                               200 200 200 200 200 401 404 401
PUT    {S}/auto-recharge                               200 200 200 200 200 401 404 401
DELETE {S}/auto-recharge                               204 204 204 204 204 401 404 401
# resources ("all, all, granted: full, assigned: full, assigned: read")
GET    {S}/campaigns                                   200 200 200 200 200 401 404 401
POST   {S}/campaigns                                   201 201 201 201 403 401 404 401
PATCH  {S}/campaigns/{resource_id}                     200 200 200 200 403 401 404 401
DELETE {S}/campaigns/{resource_id}                     204 204 204 204 403 401 404 401
GET    {S}/agents                                      200 200 200 200 200 401 404 401
POST   {S}/agents                                      201 201 201 201 403 401 404 401
PATCH  {S}/agents/{resource_id}                        200 200 200 200 403 401 404 401
DELETE {S}/agents/{resource_id}                        204 204 204 204 403 401 404 401
GET    {S}/automations                                 200 200 200 200 200 401 404 401
POST   {S}/automations                                 201 201 201 201 403 401 404 401
PATCH  {S}/automations/{resource_id}                   200 200 200 200 403 401 404 401
DELETE {S}/automations/{resource_id}                   204 204 204 204 403 401 404 401
GET    {S}/phone-numbers                               200 200 200 200 200 401 404 401
POST   {S}/phone-numbers                               201 201 201 201 403 401 404 401
PATCH  {S}/phone-numbers/{resource_id}                 200 200 200 200 403 401 404 401
DELETE {S}/phone-numbers/{resource_id}                 204 204 204 204 403 401 404 401
# reports ("all, all, primary + granted, assigned, assigned")
GET    /v1/reports/subaccounts                         200 200 200 200 200 401 200 401
GET    /v1/reports/subaccounts/{subaccount_id}         200 200 200 200 200 401 404 401
# public routes: whoever calls, the same answer (the webhook's proof is Stripe's signature)
GET    /v1/health                                      200 200 200 200 200 200 200 200
GET    /v1/openapi.json                                200 200 200 200 200 200 200 200
POST   /v1/auth/login                                  200 200 200 200 200 200 200 200
POST   /v1/auth/invitations/accept                     200 200 200 200 200 200 200 200
POST   /v1/stripe/webhook                              200 200 200 200 200 200 200 200
# platform operator routes: the platform key only; no user token opens them
POST   /v1/platform/agencies                           401 401 401 401 401 401 401 201
POST   /v1/platform/jobs/{name}/runs                   401 401 401 401 401 401 401 200
GET    /v1/platform/outbox                             401 401 401 401 401 401 401 200
POST   /v1/platform/usage                              401 401 401 401 401 401 401 200
POST   /v1/platform/adjustments                        401 401 401 401 401 401 401 201
POST   /v1/platform/calls/authorize                    401 401 401 401 401 401 401 200
"""

#: Rows of routes being added on other branches: their cells are skipped until the route
#: exists (``POST /v1/auth/logout`` was one; it has landed).
PENDING_ROUTES: set[str] = set()


def parse_matrix(text: str) -> dict[str, dict[str, int]]:
    """``{"METHOD /path": {caller: status}}`` from the table above."""
    rows: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        method, path, *statuses = line.split()
        assert len(statuses) == len(COLUMNS), line
        key = f"{method} {path.replace('{S}', '/v1/subaccounts/{subaccount_id}')}"
        assert key not in rows, f"two rows for {key}"
        rows[key] = dict(zip(COLUMNS, (int(status) for status in statuses), strict=True))
    return rows


EXPECTED = parse_matrix(SPEC_MATRIX)
