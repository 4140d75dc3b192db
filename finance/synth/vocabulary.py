"""Fixed vocabularies and weights of the synthetic province: city weights, industry mix,
name parts, banks and product templates. Plain data; the generators draw from it."""

from __future__ import annotations

from dataclasses import dataclass

# Approximate 2023 GDP of Henan's 18 prefecture-level cities (100 million yuan), used as the
# weight of each city in the enterprise population: Zhengzhou is by far the largest.
CITY_WEIGHTS: dict[str, float] = {
    "410100": 13617,  # 郑州
    "410200": 2565,  # 开封
    "410300": 5482,  # 洛阳
    "410400": 2920,  # 平顶山
    "410500": 2570,  # 安阳
    "410600": 1140,  # 鹤壁
    "410700": 3470,  # 新乡
    "410800": 2210,  # 焦作
    "410900": 1960,  # 濮阳
    "411000": 3740,  # 许昌
    "411100": 1820,  # 漯河
    "411200": 1650,  # 三门峡
    "411300": 4650,  # 南阳
    "411400": 3300,  # 商丘
    "411500": 3100,  # 信阳
    "411600": 3720,  # 周口
    "411700": 3300,  # 驻马店
    "419001": 790,  # 济源
}

# Resident ID numbers carry the division code valid when the holder's number was assigned
# (python-stdnum checks it against the birth year). Cities created later than their older
# residents' births use the code of the prefecture (地区) or county they belonged to then:
# (first birth year the code is valid for, code), newest first.
ID_REGION_HISTORY: dict[str, tuple[tuple[int, str], ...]] = {
    "410900": ((1983, "410900"), (0, "412100")),
    "411000": ((1986, "411000"), (0, "412600")),
    "411100": ((1986, "411100"), (0, "412600")),
    "411200": ((1986, "411200"), (0, "412500")),
    "411300": ((1994, "411300"), (0, "412900")),
    "411400": ((1997, "411400"), (0, "412300")),
    "411500": ((1998, "411500"), (0, "413000")),
    "411600": ((2000, "411600"), (0, "412700")),
    "411700": ((2000, "411700"), (0, "412800")),
    "419001": ((1997, "419001"), (1989, "410881"), (1986, "410827"), (0, "412223")),
}


@dataclass(frozen=True, slots=True)
class Industry:
    """A GB/T 4754-2017 section with the 2-digit divisions drawn and the name words used."""

    section: str
    weight: float  # share of the enterprise population
    divisions: tuple[str, ...]
    words: tuple[str, ...]  # industry part of the enterprise name
    kwh_per_10k_revenue: float  # electricity intensity (kWh per 10,000 yuan of revenue)
    ip_rate: float  # relative rate of patents/trademarks
    procurement_rate: float  # relative rate of public tenders won
    trade_share: float  # share of enterprises that import or export


INDUSTRIES: tuple[Industry, ...] = (
    Industry(
        "C",
        0.27,
        ("13", "14", "17", "18", "26", "29", "30", "33", "34", "35", "36", "38", "39"),
        (
            "机械制造",
            "食品",
            "纺织",
            "服饰",
            "化工",
            "塑料制品",
            "建材",
            "金属制品",
            "电子科技",
            "装备制造",
            "汽车配件",
            "电气设备",
        ),
        420.0,
        2.5,
        0.6,
        0.12,
    ),
    Industry(
        "F",
        0.30,
        ("51", "52"),
        ("商贸", "贸易", "百货", "建材销售", "农资", "医药销售", "电器销售", "超市"),
        40.0,
        0.5,
        1.5,
        0.04,
    ),
    Industry(
        "E",
        0.09,
        ("47", "48", "49", "50"),
        ("建筑工程", "建设工程", "装饰工程", "市政工程", "安装工程"),
        60.0,
        0.4,
        3.0,
        0.0,
    ),
    Industry(
        "I",
        0.06,
        ("64", "65"),
        ("软件科技", "信息技术", "网络科技", "数据科技"),
        50.0,
        4.0,
        2.0,
        0.02,
    ),
    Industry(
        "H",
        0.07,
        ("61", "62"),
        ("餐饮管理", "酒店管理", "餐饮服务"),
        150.0,
        0.3,
        0.3,
        0.0,
    ),
    Industry(
        "L",
        0.08,
        ("71", "72"),
        ("商务咨询", "企业管理", "租赁", "广告传媒", "人力资源"),
        30.0,
        0.8,
        2.0,
        0.01,
    ),
    Industry(
        "A",
        0.04,
        ("01", "02", "03", "05"),
        ("农业科技", "种植", "养殖", "农业开发"),
        120.0,
        0.5,
        0.5,
        0.03,
    ),
    Industry(
        "G",
        0.04,
        ("54", "58", "59"),
        ("物流", "运输", "仓储", "供应链管理"),
        80.0,
        0.3,
        0.8,
        0.05,
    ),
    Industry(
        "M",
        0.02,
        ("73", "74", "75"),
        ("科技研发", "检测技术", "工程设计"),
        60.0,
        3.0,
        1.5,
        0.02,
    ),
    Industry(
        "O",
        0.02,
        ("80", "81"),
        ("家政服务", "汽车维修", "物业服务"),
        50.0,
        0.2,
        0.5,
        0.0,
    ),
    Industry(
        "K",
        0.01,
        ("70",),
        ("置业", "房地产开发"),
        40.0,
        0.2,
        0.2,
        0.0,
    ),
)

TRADE_WORDS: tuple[str, ...] = tuple(
    "恒信 华泰 鑫源 宏达 金盛 瑞丰 永安 博远 天成 中原 众诚 盛世 汇通 嘉禾 德隆 福临 安泰 "
    "昌盛 裕丰 鼎新 东方 长江 黄河 润泽 信达 新锐 聚力 启航 卓越 凯旋 万通 和顺 鸿运 隆兴 "
    "锦程 泰和 正阳 光明 腾飞 豫康 豫丰 嵩山 伏牛 龙源 汉唐 宏图 远大 志诚 铭扬 金鼎 "
    "祥瑞 晟达 亿佳 同创 盈科 中科 天泽 华信 兴业 诚信 广源 通达 利民 惠民 富源 丰华 "
    "星辰 海纳 智联 云帆 绿源 青禾 万家 百川 千禧 明德 弘毅 尚品 佳美 恒昌 大有".split()
)

SURNAMES: tuple[str, ...] = tuple(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜"
    "叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶"
)
GIVEN_CHARS: tuple[str, ...] = tuple(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红玉兰峰辉鹏飞宇浩然欣怡晨"
    "俊凯文博海波东亮林雪梅丹斌利民德新春旭阳昊天瑞佳琳慧颖子涵思远振宁"
)

CIVIL_CAUSES: tuple[str, ...] = (
    "买卖合同纠纷",
    "借款合同纠纷",
    "金融借款合同纠纷",
    "民间借贷纠纷",
    "劳动争议",
    "租赁合同纠纷",
    "建设工程施工合同纠纷",
    "服务合同纠纷",
    "承揽合同纠纷",
)

# (authority suffix, decision-number abbreviation, reasons)
PENALTY_AUTHORITIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("市场监督管理局", "市监罚", ("虚假宣传", "销售不合格产品", "未按规定公示年度报告")),
    ("生态环境局", "环罚", ("超标排放大气污染物", "未批先建", "危险废物贮存不规范")),
    ("应急管理局", "应急罚", ("安全生产事故隐患未按期整改", "未按规定开展安全培训")),
    ("税务局", "税罚", ("未按期办理纳税申报", "未按规定开具发票")),
    ("消防救援支队", "消罚", ("消防设施未保持完好有效", "占用疏散通道")),
)

PURCHASERS: tuple[str, ...] = (
    "人民医院",
    "教育局",
    "住房和城乡建设局",
    "交通运输局",
    "第一高级中学",
    "公安局",
    "城市管理局",
    "农业农村局",
    "水利局",
)
PURCHASE_ITEMS: tuple[str, ...] = (
    "设备采购",
    "办公用品采购",
    "信息化建设",
    "维修改造工程",
    "物业服务",
    "绿化养护",
    "软件开发服务",
    "食堂食材配送",
)
IP_TITLE_WORDS: tuple[str, ...] = (
    "一种智能控制装置",
    "一种节能生产方法",
    "一种检测系统",
    "一种自动化输送设备",
    "数据管理平台软件",
    "一种新型包装结构",
    "一种环保处理工艺",
    "企业品牌标识",
)


@dataclass(frozen=True, slots=True)
class BankSpec:
    code: str
    name: str
    name_en: str
    kind: str
    products: int  # how many products the bank publishes
    weight: float  # share of the loan market


BANKS: tuple[BankSpec, ...] = (
    BankSpec("ICBC", "中国工商银行河南省分行", "ICBC Henan", "state_owned", 8, 0.08),
    BankSpec("ABC", "中国农业银行河南省分行", "ABC Henan", "state_owned", 8, 0.08),
    BankSpec("BOC", "中国银行河南省分行", "Bank of China Henan", "state_owned", 7, 0.06),
    BankSpec("CCB", "中国建设银行河南省分行", "CCB Henan", "state_owned", 8, 0.09),
    BankSpec("BOCOM", "交通银行河南省分行", "Bank of Communications Henan", "state_owned", 5, 0.04),
    BankSpec("PSBC", "中国邮政储蓄银行河南省分行", "PSBC Henan", "state_owned", 7, 0.07),
    BankSpec("ADBC", "中国农业发展银行河南省分行", "ADBC Henan", "policy", 3, 0.01),
    BankSpec("CMB", "招商银行郑州分行", "China Merchants Bank Zhengzhou", "joint_stock", 5, 0.04),
    BankSpec("CITIC", "中信银行郑州分行", "China CITIC Bank Zhengzhou", "joint_stock", 5, 0.03),
    BankSpec("SPDB", "浦发银行郑州分行", "SPD Bank Zhengzhou", "joint_stock", 5, 0.03),
    BankSpec("CMBC", "民生银行郑州分行", "China Minsheng Bank Zhengzhou", "joint_stock", 5, 0.03),
    BankSpec("CIB", "兴业银行郑州分行", "Industrial Bank Zhengzhou", "joint_stock", 5, 0.03),
    BankSpec("CEB", "光大银行郑州分行", "China Everbright Bank Zhengzhou", "joint_stock", 4, 0.02),
    BankSpec("HXB", "华夏银行郑州分行", "Hua Xia Bank Zhengzhou", "joint_stock", 4, 0.02),
    BankSpec("PAB", "平安银行郑州分行", "Ping An Bank Zhengzhou", "joint_stock", 5, 0.03),
    BankSpec("ZYB", "中原银行", "Zhongyuan Bank", "city_commercial", 10, 0.08),
    BankSpec("ZZB", "郑州银行", "Bank of Zhengzhou", "city_commercial", 8, 0.06),
    BankSpec("LYB", "洛阳银行", "Bank of Luoyang", "city_commercial", 6, 0.03),
    BankSpec("PDSB", "平顶山银行", "Bank of Pingdingshan", "city_commercial", 4, 0.02),
    BankSpec("HNRCU", "河南省农村信用社联合社", "Henan Rural Credit Union", "rural", 7, 0.06),
    BankSpec("ZZRCB", "郑州农村商业银行", "Zhengzhou Rural Commercial Bank", "rural", 4, 0.02),
    BankSpec("LYRCB", "洛阳农村商业银行", "Luoyang Rural Commercial Bank", "rural", 4, 0.015),
    BankSpec("NYRCB", "南阳农村商业银行", "Nanyang Rural Commercial Bank", "rural", 4, 0.015),
    BankSpec("XXRCB", "新乡农村商业银行", "Xinxiang Rural Commercial Bank", "rural", 3, 0.01),
    BankSpec("XCRCB", "许昌农村商业银行", "Xuchang Rural Commercial Bank", "rural", 3, 0.01),
    BankSpec("XMVB", "新密郑银村镇银行", "Xinmi Zhengyin Village Bank", "village", 2, 0.005),
    BankSpec("YCVB", "伊川农商村镇银行", "Yichuan Village Bank", "village", 2, 0.005),
)

# (name suffix, guarantee, min/max amount in 10,000 yuan, min/max term months, rate range %)
PRODUCT_TEMPLATES: tuple[tuple[str, str, int, int, int, int, float, float], ...] = (
    ("税易贷", "pure_credit", 10, 300, 6, 12, 3.85, 6.5),
    ("信易贷", "pure_credit", 10, 500, 6, 24, 3.85, 6.8),
    ("经营快贷", "pure_credit", 5, 200, 3, 12, 4.2, 7.5),
    ("社保贷", "pure_credit", 10, 200, 6, 12, 4.0, 7.0),
    ("电e贷", "pure_credit", 10, 300, 6, 12, 4.0, 7.0),
    ("科技贷", "pure_credit", 50, 1000, 12, 36, 3.65, 6.0),
    ("政采贷", "pure_credit", 20, 800, 6, 24, 3.85, 6.2),
    ("普惠信用贷", "pure_credit", 5, 300, 6, 24, 4.0, 7.2),
    ("抵押经营贷", "mortgage", 50, 3000, 12, 60, 3.45, 5.5),
    ("担保贷", "guaranteed", 20, 1000, 6, 36, 4.5, 7.8),
    ("知识产权质押贷", "pledge", 50, 2000, 12, 36, 3.8, 6.0),
)
