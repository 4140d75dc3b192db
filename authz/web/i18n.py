"""Portal strings in Simplified Chinese (default) and English."""

from __future__ import annotations

from fastapi import Request, Response

LANGS = ("zh", "en")
LANG_COOKIE = "lang"

STRINGS: dict[str, dict[str, str]] = {
    "platform": {"zh": "河南省金融服务共享平台", "en": "Henan Financial Service Sharing Platform"},
    "login": {"zh": "登录", "en": "Log in"},
    "logout": {"zh": "退出", "en": "Log out"},
    "username": {"zh": "用户名", "en": "Username"},
    "password": {"zh": "密码", "en": "Password"},
    "login_failed": {"zh": "用户名或密码错误", "en": "Wrong username or password"},
    "consent_title": {"zh": "数据授权确认", "en": "Approve data access"},
    "consent_intro": {
        "zh": "以下机构请求读取贵企业的政务数据：",
        "en": "This institution asks to read your enterprise's government data:",
    },
    "bank": {"zh": "机构", "en": "Institution"},
    "categories": {"zh": "数据类别", "en": "Data categories"},
    "period": {"zh": "数据期间", "en": "Period of the data"},
    "purpose": {"zh": "用途", "en": "Purpose"},
    "expires": {"zh": "授权有效期至", "en": "Consent expires"},
    "max_calls": {"zh": "每日最多调用次数", "en": "Maximum calls per day"},
    "approve": {"zh": "同意授权", "en": "Approve"},
    "reject": {"zh": "拒绝", "en": "Reject"},
    "my_consents": {"zh": "我的授权", "en": "My consents"},
    "status": {"zh": "状态", "en": "Status"},
    "revoke": {"zh": "撤销授权", "en": "Revoke"},
    "calls": {"zh": "调用记录", "en": "Calls"},
    "none": {"zh": "暂无授权", "en": "No consents yet"},
    "error": {"zh": "请求无法处理", "en": "The request cannot be processed"},
    "authenticate": {"zh": "企业认证", "en": "Authenticate the enterprise"},
    "legal_rep_name": {"zh": "法定代表人姓名", "en": "Legal representative's name"},
    "id_number": {"zh": "法定代表人身份证号", "en": "Legal representative's ID number"},
    "authenticated": {"zh": "企业已认证", "en": "The enterprise is authenticated"},
    "auth_failed": {
        "zh": "姓名或身份证号与登记信息不符",
        "en": "The name or ID number does not match the registration record",
    },
    "submit": {"zh": "提交", "en": "Submit"},
    "switch": {"zh": "English", "en": "中文"},
    "api_reference": {
        "zh": "银行接口文档（API 参考）",
        "en": "API reference for banks' integration engineers",
    },
    # Consent statuses, keyed ``status_<status>`` (the API keeps the English codes).
    "status_AwaitingAuthorisation": {"zh": "待授权", "en": "Awaiting authorisation"},
    "status_Authorised": {"zh": "已授权", "en": "Authorised"},
    "status_Rejected": {"zh": "已拒绝", "en": "Rejected"},
    "status_Revoked": {"zh": "已撤销", "en": "Revoked"},
    "status_Expired": {"zh": "已过期", "en": "Expired"},
}


def language(request: Request) -> str:
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return asked if asked in LANGS else "zh"


def remember(request: Request, response: Response) -> None:
    asked = request.query_params.get("lang")
    if asked in LANGS:
        response.set_cookie(LANG_COOKIE, asked, max_age=365 * 86400, samesite="lax", secure=True)


def translator(lang: str) -> dict[str, str]:
    return {key: texts[lang] for key, texts in STRINGS.items()}
