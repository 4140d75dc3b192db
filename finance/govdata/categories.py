"""The category registry: one definition per department data category.

Each category says which department supplies it, how it is dated (monthly period or
event date), its natural key, its typed columns with the validation rules ingestion
applies, its sensitivity and the OAuth scope a bank asks for. Tables
(``finance.govdata.models``), ingestion, consents and the data-call API all read this.

Files carry money in yuan (up to two decimals); tables and APIs carry integer fen in a
column named ``<name>_fen``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


class Kind(enum.StrEnum):
    TEXT = "text"
    INT = "int"
    MONEY = "money"  # yuan in files, integer fen in the database
    DATE = "date"  # YYYY-MM-DD (also YYYY/MM/DD, YYYYMMDD)
    MONTH = "month"  # YYYY-MM, stored as the first day of the month
    ENUM = "enum"
    BOOL = "bool"
    ID_NUMBER = "id_number"  # PRC resident identity card number, GB 11643; always masked
    DIVISION = "division"  # GB/T 2260 code inside Henan
    INDUSTRY = "industry"  # GB/T 4754-2017 2-digit division


class Period(enum.StrEnum):
    MONTHLY = "monthly"
    EVENT = "event"


class Sensitivity(enum.StrEnum):
    PUBLIC = "public"  # already public by law (court judgments, penalties, IP)
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"  # business secrets (tax, customs)
    PERSONAL = "personal"  # holds personal information (PIPL)


@dataclass(frozen=True, slots=True)
class Choice:
    code: str
    zh: str
    en: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: Kind
    zh: str
    en: str
    required: bool = True
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    choices: tuple[Choice, ...] = ()

    @property
    def db_name(self) -> str:
        return f"{self.name}_fen" if self.kind is Kind.MONEY else self.name

    @property
    def accepted(self) -> Mapping[str, str]:
        """Every accepted spelling of an enum value (code, Chinese label, aliases) -> code."""
        spellings: dict[str, str] = {}
        for choice in self.choices:
            for spelling in (choice.code, choice.zh, *choice.aliases):
                spellings[spelling] = choice.code
        return spellings


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    zh: str
    en: str
    department: str
    department_zh: str
    period: Period
    date_column: str
    key: tuple[str, ...]
    sensitivity: Sensitivity
    description: str
    columns: tuple[Column, ...]
    creates_enterprises: bool = False
    scope: str = field(default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "scope", f"data:{self.name}")
        names = [c.name for c in self.columns]
        if "uscc" in names or len(set(names)) != len(names):
            raise ValueError(f"category {self.name}: duplicate or reserved column names")
        if self.date_column not in names or not set(self.key) <= set(names):
            raise ValueError(f"category {self.name}: date or key column is not a column")

    @property
    def table_name(self) -> str:
        return f"data_{self.name}"

    @property
    def file_columns(self) -> list[str]:
        return ["uscc", *(c.name for c in self.columns)]

    @property
    def required_file_columns(self) -> list[str]:
        return ["uscc", *(c.name for c in self.columns if c.required)]

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


MONEY_MAX_YUAN = 10**12  # a trillion yuan: beyond any SME figure, inside float precision


def _money(name: str, zh: str, en: str, *, required: bool = True) -> Column:
    return Column(name, Kind.MONEY, zh, en, required=required, minimum=0, maximum=MONEY_MAX_YUAN)


def _month() -> Column:
    return Column("period", Kind.MONTH, "所属期", "period (month)")


def _text(name: str, zh: str, en: str, length: int, *, required: bool = True) -> Column:
    return Column(name, Kind.TEXT, zh, en, required=required, max_length=length)


REGISTRATION_STATUS = (
    Choice("active", "存续", "active", aliases=("在业", "开业")),
    Choice("suspended", "停业", "suspended"),
    Choice("liquidating", "清算", "in liquidation"),
    Choice("revoked", "吊销", "licence revoked", aliases=("吊销，未注销",)),
    Choice("deregistered", "注销", "deregistered"),
    Choice("moved_out", "迁出", "moved out"),
)

CATEGORIES: tuple[Category, ...] = (
    Category(
        name="registration",
        zh="工商登记信息",
        en="market registration record",
        department="market_regulation",
        department_zh="河南省市场监督管理局",
        period=Period.EVENT,
        date_column="event_date",
        key=("event_date", "event_type", "change_item"),
        sensitivity=Sensitivity.PERSONAL,
        description=(
            "Registration snapshots: establishment, changes and annual reports, each with "
            "the full record as of that date; the registry takes the latest one."
        ),
        creates_enterprises=True,
        columns=(
            Column("event_date", Kind.DATE, "事项日期", "event date"),
            Column(
                "event_type",
                Kind.ENUM,
                "事项类型",
                "event type",
                choices=(
                    Choice("establishment", "设立", "establishment"),
                    Choice("change", "变更", "change"),
                    Choice("annual_report", "年报", "annual report"),
                    Choice("status_change", "状态变更", "status change"),
                ),
            ),
            _text("change_item", "变更事项", "changed item", 64, required=False),
            _text("before_value", "变更前", "value before", 500, required=False),
            _text("after_value", "变更后", "value after", 500, required=False),
            _text("name", "企业名称", "enterprise name", 200),
            _text("legal_rep_name", "法定代表人", "legal representative", 64),
            Column("legal_rep_id_number", Kind.ID_NUMBER, "法定代表人身份证号", "legal rep ID"),
            Column("founded_on", Kind.DATE, "成立日期", "founding date"),
            _money("registered_capital", "注册资本", "registered capital"),
            Column("status", Kind.ENUM, "登记状态", "status", choices=REGISTRATION_STATUS),
            Column("division_code", Kind.DIVISION, "住所行政区划", "address division code"),
            Column("industry_division", Kind.INDUSTRY, "行业门类大类", "industry division"),
            Column(
                "industry_class",
                Kind.TEXT,
                "行业小类",
                "industry class (4 digits)",
                required=False,
                max_length=4,
            ),
            Column(
                "employees",
                Kind.INT,
                "从业人数",
                "employees",
                required=False,
                minimum=0,
                maximum=10_000_000,
            ),
            _money("revenue", "营业收入", "annual revenue", required=False),
            _money("total_assets", "资产总额", "total assets", required=False),
        ),
    ),
    Category(
        name="tax",
        zh="纳税信息",
        en="tax",
        department="tax_bureau",
        department_zh="国家税务总局河南省税务局",
        period=Period.MONTHLY,
        date_column="period",
        key=("period",),
        sensitivity=Sensitivity.CONFIDENTIAL,
        description="Monthly tax paid by kind, arrears outstanding and the tax credit rating.",
        columns=(
            _month(),
            _money("vat_paid", "增值税", "VAT paid"),
            _money("cit_paid", "企业所得税", "corporate income tax paid"),
            _money("iit_withheld", "代扣个人所得税", "individual income tax withheld"),
            _money("other_paid", "其他税费", "other taxes and fees paid"),
            _money("arrears", "欠税余额", "tax arrears outstanding"),
            Column(
                "credit_rating",
                Kind.ENUM,
                "纳税信用等级",
                "tax credit rating",
                required=False,
                choices=tuple(Choice(g, f"{g}级", f"grade {g}") for g in "ABMCD"),
            ),
        ),
    ),
    Category(
        name="social_insurance",
        zh="社保缴纳信息",
        en="social insurance",
        department="human_resources_social_security",
        department_zh="河南省人力资源和社会保障厅",
        period=Period.MONTHLY,
        date_column="period",
        key=("period",),
        sensitivity=Sensitivity.CONFIDENTIAL,
        description="Monthly insured employees, contributions paid and arrears.",
        columns=(
            _month(),
            Column(
                "insured_employees",
                Kind.INT,
                "参保人数",
                "insured employees",
                minimum=0,
                maximum=10_000_000,
            ),
            _money("contributions_paid", "实缴金额", "contributions paid"),
            _money("arrears", "欠费金额", "contribution arrears"),
        ),
    ),
    Category(
        name="housing_fund",
        zh="住房公积金缴存信息",
        en="housing provident fund",
        department="housing_fund_centre",
        department_zh="住房公积金管理中心",
        period=Period.MONTHLY,
        date_column="period",
        key=("period",),
        sensitivity=Sensitivity.CONFIDENTIAL,
        description="Monthly housing fund contributors and amount deposited.",
        columns=(
            _month(),
            Column(
                "contributors",
                Kind.INT,
                "缴存人数",
                "contributors",
                minimum=0,
                maximum=10_000_000,
            ),
            _money("amount", "缴存金额", "amount deposited"),
        ),
    ),
    Category(
        name="utilities",
        zh="水电费信息",
        en="utilities",
        department="utilities",
        department_zh="国网河南省电力公司、城市供水企业",
        period=Period.MONTHLY,
        date_column="period",
        key=("period",),
        sensitivity=Sensitivity.INTERNAL,
        description="Monthly electricity and water consumption and overdue bills.",
        columns=(
            _month(),
            Column(
                "electricity_kwh",
                Kind.INT,
                "用电量(千瓦时)",
                "electricity (kWh)",
                minimum=0,
                maximum=10**12,
            ),
            Column("water_m3", Kind.INT, "用水量(立方米)", "water (m³)", minimum=0, maximum=10**10),
            _money("overdue_bills", "欠缴费用", "overdue utility bills"),
        ),
    ),
    Category(
        name="judicial",
        zh="司法信息",
        en="court and enforcement records",
        department="high_court",
        department_zh="河南省高级人民法院",
        period=Period.EVENT,
        date_column="filed_on",
        key=("case_number",),
        sensitivity=Sensitivity.PUBLIC,
        description=(
            "Court cases with the enterprise's role, enforcement cases and the "
            "dishonest-debtor list (失信被执行人)."
        ),
        columns=(
            _text("case_number", "案号", "case number", 64),
            Column("filed_on", Kind.DATE, "立案日期", "filed on"),
            Column(
                "case_type",
                Kind.ENUM,
                "案件类型",
                "case type",
                choices=(
                    Choice("civil", "民事", "civil"),
                    Choice("administrative", "行政", "administrative"),
                    Choice("criminal", "刑事", "criminal"),
                    Choice("enforcement", "执行", "enforcement"),
                    Choice("bankruptcy", "破产", "bankruptcy"),
                ),
            ),
            Column(
                "role",
                Kind.ENUM,
                "诉讼地位",
                "role",
                choices=(
                    Choice("plaintiff", "原告", "plaintiff"),
                    Choice("defendant", "被告", "defendant"),
                    Choice("third_party", "第三人", "third party"),
                    Choice("applicant", "申请执行人", "enforcement applicant"),
                    Choice("respondent", "被执行人", "person subject to enforcement"),
                ),
            ),
            _text("cause", "案由", "cause of action", 200),
            _money("amount", "标的金额", "amount at stake", required=False),
            Column(
                "status",
                Kind.ENUM,
                "案件状态",
                "status",
                choices=(
                    Choice("pending", "审理中", "pending"),
                    Choice("closed", "已结案", "closed"),
                    Choice("enforcing", "执行中", "under enforcement"),
                    Choice("terminated", "终结本次执行", "enforcement terminated"),
                ),
            ),
            Column("closed_on", Kind.DATE, "结案日期", "closed on", required=False),
            Column("dishonest_debtor", Kind.BOOL, "失信被执行人", "on dishonest-debtor list"),
        ),
    ),
    Category(
        name="penalties",
        zh="行政处罚信息",
        en="administrative penalties",
        department="credit_henan",
        department_zh="信用河南(各执法部门)",
        period=Period.EVENT,
        date_column="decided_on",
        key=("decision_number",),
        sensitivity=Sensitivity.PUBLIC,
        description="Administrative penalties with the deciding authority, reason and amount.",
        columns=(
            _text("decision_number", "处罚决定书文号", "decision number", 100),
            Column("decided_on", Kind.DATE, "处罚决定日期", "decided on"),
            _text("authority", "处罚机关", "authority", 100),
            _text("reason", "处罚事由", "reason", 500),
            Column(
                "penalty_type",
                Kind.ENUM,
                "处罚类别",
                "penalty type",
                choices=(
                    Choice("warning", "警告", "warning"),
                    Choice("fine", "罚款", "fine"),
                    Choice("confiscation", "没收违法所得", "confiscation"),
                    Choice("suspension", "责令停产停业", "ordered to suspend business"),
                    Choice("licence_revocation", "吊销许可证件", "licence revoked"),
                ),
            ),
            _money("amount", "罚款金额", "fine amount", required=False),
            Column("repaired", Kind.BOOL, "已信用修复", "credit repaired", required=False),
        ),
    ),
    Category(
        name="customs",
        zh="海关进出口信息",
        en="customs",
        department="customs",
        department_zh="郑州海关",
        period=Period.MONTHLY,
        date_column="period",
        key=("period",),
        sensitivity=Sensitivity.CONFIDENTIAL,
        description="Monthly import and export value and the customs credit grade.",
        columns=(
            _month(),
            _money("import_value", "进口额", "import value"),
            _money("export_value", "出口额", "export value"),
            Column(
                "customs_credit",
                Kind.ENUM,
                "海关信用等级",
                "customs credit grade",
                required=False,
                choices=(
                    Choice("aeo_advanced", "高级认证企业", "AEO advanced"),
                    Choice("general", "一般信用企业", "general"),
                    Choice("dishonest", "失信企业", "dishonest"),
                ),
            ),
        ),
    ),
    Category(
        name="ip",
        zh="知识产权信息",
        en="patents and trademarks",
        department="intellectual_property",
        department_zh="河南省知识产权局",
        period=Period.EVENT,
        date_column="granted_on",
        key=("registration_number",),
        sensitivity=Sensitivity.PUBLIC,
        description="Patents, trademarks and software copyrights held, with their status.",
        columns=(
            _text("registration_number", "登记号", "registration number", 64),
            Column(
                "ip_type",
                Kind.ENUM,
                "类型",
                "type",
                choices=(
                    Choice("invention_patent", "发明专利", "invention patent"),
                    Choice("utility_model", "实用新型", "utility model"),
                    Choice("design_patent", "外观设计", "design patent"),
                    Choice("trademark", "商标", "trademark"),
                    Choice("software_copyright", "软件著作权", "software copyright"),
                ),
            ),
            _text("title", "名称", "title", 200),
            Column("granted_on", Kind.DATE, "授权日期", "granted on"),
            Column(
                "status",
                Kind.ENUM,
                "法律状态",
                "legal status",
                choices=(
                    Choice("valid", "有效", "valid"),
                    Choice("expired", "失效", "expired"),
                    Choice("pledged", "质押", "pledged"),
                    Choice("transferred", "已转让", "transferred"),
                ),
            ),
        ),
    ),
    Category(
        name="procurement",
        zh="政府采购信息",
        en="public procurement",
        department="public_procurement",
        department_zh="河南省财政厅(政府采购)",
        period=Period.EVENT,
        date_column="awarded_on",
        key=("award_id",),
        sensitivity=Sensitivity.PUBLIC,
        description="Public tenders won: purchaser, project and contract amount.",
        columns=(
            _text("award_id", "中标公告编号", "award id", 64),
            Column("awarded_on", Kind.DATE, "中标日期", "awarded on"),
            _text("purchaser", "采购人", "purchaser", 200),
            _text("project", "项目名称", "project", 300),
            _money("amount", "中标金额", "contract amount"),
            Column(
                "contract_months",
                Kind.INT,
                "合同期限(月)",
                "contract term (months)",
                required=False,
                minimum=1,
                maximum=600,
            ),
        ),
    ),
)

REGISTRY: Mapping[str, Category] = MappingProxyType({c.name: c for c in CATEGORIES})
SCOPES: Mapping[str, Category] = MappingProxyType({c.scope: c for c in CATEGORIES})


def get_category(name: str) -> Category:
    """The category named ``name``; unknown names raise ``KeyError`` listing the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(REGISTRY)
        raise KeyError(f"unknown data category {name!r}; known categories: {known}") from None
