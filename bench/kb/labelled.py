"""The labelled requests of bench/kb_match.py: what requesters write, and the article (its id in
bench/kb/articles) a support engineer would link, or None when no article answers it.

Written the way mail arrives: typos (登陆, 帐号, 打印几), 报错截图 and log attachments mentioned,
English product names inside Chinese sentences, greetings and signatures left in.
"""

REQUESTS: list[tuple[str, int | None]] = [
    # Chinese, with an answer in the knowledge base
    ("电脑登陆不了\n\n早上开机提示我的密码已过期，必须更改，改了半天也不行，VPN 也连不上。急！", 1),
    ("【紧急】域帐号密码过期了\n\n您好，我出差在外，电脑提示密码过期，怎么修改？", 1),
    ("账号被锁了\n\n输错了几次密码，现在提示账户已锁定，无法登录，麻烦帮忙解锁，谢谢", 2),
    ("帐号锁定\n\n手机邮箱一直弹密码框，然后电脑就登录不了了，说账户被锁定", 2),
    ("忘记密码了\n\n休假回来忘记电脑密码了，怎么重置？工号 10086", 3),
    (
        "outlook一直让输入密码\n\n从昨天开始 Outlook 一直弹出输入密码的窗口，输了还弹，邮件发不出去都在发件箱里。截图见附件",
        4,
    ),
    ("收不到邮件\n\n我的邮箱好像满了，同事说给我发的邮件被退回来了，提示 mailbox full", 5),
    ("邮箱空间不足\n\n收到提醒说邮箱容量快满了，怎么清理？", 5),
    ("手机怎么收公司邮件\n\n新买了 iPhone，想配置公司邮箱，服务器地址填什么？", 6),
    ("Outlook 搜索不到邮件\n\n在outlook里搜关键字什么都搜不出来，提示仍在编制索引", 7),
    ("邮件发不出去\n\n发了一个 40M 的附件，收到退信说 552 邮件大小超过限制，怎么办", 8),
    ("vpn连不上\n\n在家办公，VPN 连接一直报错 809，之前都是好的。报错截图见附件", 9),
    ("VPN 连接超时\n\n在酒店连 VPN 一直超时，anyconnect 转圈然后失败", 9),
    ("wifi连上了但是上不了网\n\n3楼会议室的无线网显示已连接，无 Internet，网页打不开", 10),
    ("无线网络获取不到IP地址\n\n笔记本连公司 WiFi 一直显示正在获取 IP 地址", 10),
    ("网页打不开\n\n浏览器打开外网很多网站提示 DNS_PROBE_FINISHED_NXDOMAIN，内网正常", 11),
    ("访客wifi\n\n明天有客户来访，需要给他们开通访客网络，大概5个人", 12),
    ("打印机卡纸了\n\n三楼的打印机一直提示卡纸，纸拿出来了还是报卡纸", 13),
    ("打印几卡纸\n\n打印几夹纸了，打不出来", 13),
    ("打印机脱机\n\n打印的时候提示打印机脱机，任务一直在队列里不动，打印机是开着的", 14),
    ("无法打印\n\n点了打印没反应，打印队列里一堆任务，显示脱机", 14),
    ("安装打印机驱动\n\n新领的电脑，找不到我们楼层的打印机，怎么添加网络打印机？", 15),
    ("扫描到邮箱收不到\n\n在复印机上扫描到邮箱，一直收不到扫描件", 16),
    ("会议室投影没信号\n\n2号会议室投影仪接上HDMI显示无信号，下午要开会，急", 17),
    ("电脑开不了机\n\n早上按电源键没反应，电源灯亮着但是黑屏", 18),
    ("电脑特别卡\n\n最近电脑运行很慢，打开个Excel都要卡半天，C盘变红了", 19),
    (
        "电脑蓝屏了\n\n刚才电脑突然蓝屏重启，显示你的设备遇到问题需要重启，终止代码 IRQL_NOT_LESS_OR_EQUAL，照片见附件",
        20,
    ),
    ("鼠标不好使\n\n无线鼠标时断时续，光标乱跳，换了电池也不行", 21),
    ("office未激活\n\nword打开上面有红条说产品未经授权，不能编辑文档了", 22),
    ("Excel打开csv乱码\n\n从系统导出的csv用excel打开中文全是乱码，急需今天报表", 23),
    ("Teams开会没声音\n\n用teams开会听不到对方说话，对方也听不到我，耳机是好的", 24),
    ("钉钉会议对方听不到我说话\n\n麦克风没问题，钉钉视频会议里别人听不到我的声音", 24),
    ("需要安装软件\n\n我要安装 Xmind，提示需要管理员密码", 25),
    ("ERP老是掉线\n\nERP登录后点两下就跳回登录页面，提示会话已过期，请重新登录", 26),
    ("OA提交不了\n\n在OA提交请假审批单，点击提交没有反应，提示流程提交失败", 27),
    ("发票上传不上去\n\n报销系统上传电子发票一直失败，是OFD格式的", 28),
    ("CRM导出报错\n\nCRM导出今年的商机报表，转半天然后 504 Gateway Timeout", 29),
    ("共享盘打不开\n\n访问部门共享文件夹提示拒绝访问，我上周刚调到市场部", 30),
    ("收到一封奇怪的邮件\n\n有封邮件说我的邮箱要过期了让我点链接验证账号，是不是钓鱼邮件？", 31),
    ("显示器一直闪\n\n外接的显示器一直闪屏，分辨率也不对，看着很模糊", 32),
    ("换手机了收不到验证码\n\n换了新手机，Authenticator 里没有公司账号了，登录时没法两步验证", 33),
    ("远程桌面连不上\n\n在家用远程桌面连办公室电脑，提示远程桌面无法连接到远程计算机", 34),
    # English, with an answer
    (
        "Password expired\n\nHi, my Windows login says my password has expired and I must change it. I'm working from home today.",
        1,
    ),
    (
        "Account locked out\n\nI typed my password wrong a few times and now my account is locked. Can you unlock it?",
        2,
    ),
    ("Forgot my password\n\nI forgot my password after vacation. How do I reset it?", 3),
    (
        "Outlook keeps asking for password\n\nOutlook keeps prompting for my password every few minutes and emails are stuck in the outbox.",
        4,
    ),
    ("Mailbox full\n\nPeople tell me their mails bounce with 'mailbox full, quota exceeded'.", 5),
    (
        "Email attachment too large\n\nMy email with a 30 MB attachment bounced: 552 message size exceeds limit",
        8,
    ),
    ("VPN not connecting\n\nVPN fails with error 809 from the hotel, connection timed out.", 9),
    (
        "WiFi connected but no internet\n\nMy laptop shows connected to the office wireless but says no internet",
        10,
    ),
    (
        "Printer offline\n\nCannot print, the printer shows as offline and jobs are stuck in the queue",
        14,
    ),
    (
        "Paper jam on 3rd floor printer\n\nThe printer says paper jam even after I removed the paper",
        13,
    ),
    ("Projector no signal\n\nThe projector in room 5 says no signal when I plug in HDMI", 17),
    ("Blue screen\n\nMy laptop crashed with a blue screen (BSOD) twice today", 20),
    ("Office not activated\n\nExcel shows a red bar: activation failed, product unlicensed", 22),
    (
        "No audio in Teams\n\nIn Teams meetings nobody can hear me, the microphone works elsewhere",
        24,
    ),
    (
        "Phishing?\n\nI got a suspicious email asking me to verify my account via a link. Is this phishing?",
        31,
    ),
    ("Remote desktop\n\nRemote desktop (mstsc) cannot connect to my office PC from home", 34),
    ("Outlok search broken\n\nOutlook search returns nothing, says indexing still in progress", 7),
    # Nothing in the knowledge base answers these
    ("请问食堂几点开门\n\n新员工，想问一下公司食堂早餐几点开始供应", None),
    ("申请新笔记本\n\n我的笔记本已经用了五年，想申请换一台新的，流程是什么", None),
    ("会议室预订\n\n下周三下午想预订大会议室，请问在哪里订", None),
    ("工资条\n\n这个月的工资条还没收到，请问什么时候发", None),
    ("年会节目报名\n\n我们部门想报一个节目，找谁报名", None),
    ("快递丢了\n\n前台说我的快递签收了但是我没拿到", None),
    ("请帮忙开通GitLab项目权限\n\n我需要 mobile-app 仓库的 developer 权限，项目负责人已同意", None),
    ("数据库慢查询\n\n生产库 orders 表的查询突然变慢，执行计划变了，请DBA看一下", None),
    ("Parking permit\n\nHow do I get a parking permit for the underground garage?", None),
    (
        "Change my bank account for payroll\n\nPlease update the bank account where my salary is paid.",
        None,
    ),
    (
        "New hire laptop order\n\nWe have three new hires starting next Monday, please order laptops.",
        None,
    ),
    (
        "Conference call with Tokyo\n\nCould someone book the video room for a call with Tokyo on Friday 8am?",
        None,
    ),
    ("谢谢\n\n问题已经解决了，谢谢你们", None),
    ("空调太冷\n\n5楼办公区空调温度太低了，能不能调高一点", None),
]

# Written after the first weights and threshold were fixed on REQUESTS. Its first run (top-1
# precision 0.91, recall 0.67, 1 of 5 offered wrongly) showed long keyword lists drowning the
# two keywords that matter; keywords became phrases and the threshold 0.35 was chosen looking
# at both sets, so this set is no longer unseen.
HELD_OUT: list[tuple[str, int | None]] = [
    ("开机密码过期\n\n今天一开机就说密码过期要修改，我改完以后邮箱登不上了", 1),
    ("账户锁住了\n\n早上连输了好几次密码，现在显示账户已锁定，等了十分钟还是不行", 2),
    ("Outlook总弹窗要密码\n\n换了新密码以后Outlook每隔几分钟就弹窗让输入密码，很烦", 4),
    ("邮箱满了收不到信\n\n客户说发给我的邮件被退回了，说收件人邮箱已满", 5),
    ("VPN报错809\n\n出差住酒店，VPN一直连不上，错误809，手机热点能连", 9),
    ("打印机一直显示脱机\n\n四楼打印机脱机了，所有人都打印不了，打印任务卡在队列里", 14),
    ("复印机扫描发不到邮箱\n\n扫描到邮箱显示发送失败", 16),
    ("投影仪没有画面\n\n会议室电脑接了HDMI投影仪显示无信号，急！马上开会", 17),
    ("电脑蓝屏重启\n\n今天蓝屏了三次，每次都是 MEMORY_MANAGEMENT", 20),
    ("Word显示产品未激活\n\n打开word提示未激活，不能编辑", 22),
    ("导出的CSV中文乱码\n\n系统导出的csv文件用excel打开全是乱码", 23),
    (
        "ERP session expired\n\nERP keeps kicking me out to the login page saying the session expired",
        26,
    ),
    ("Cannot upload invoice\n\nThe expense system refuses my OFD invoice, upload failed", 28),
    (
        "Shared drive access denied\n\nI get access denied on the department shared folder on fileserver",
        30,
    ),
    (
        "New phone, MFA\n\nI got a new phone and my Authenticator no longer has the company account",
        33,
    ),
    ("申请加装一台显示器\n\n想再申请一个显示器做双屏，流程怎么走", None),
    ("门禁卡坏了\n\n我的门禁卡刷不开门了，找谁换", None),
    ("请假流程咨询\n\n年假怎么请？需要谁审批", None),
    ("Team lunch booking\n\nCan IT help book a restaurant for our team lunch?", None),
    ("Lost badge\n\nI lost my office badge yesterday, how do I get a new one?", None),
]

# Written after keyword phrases and threshold 0.35 were fixed. Run once as it stood (top-1
# precision 0.875, recall 0.64, 1 of 9 offered wrongly); one change came after that run,
# prompted by an English unit-test request, not by this set: the title or the keywords,
# whichever covers more, name the topic. Nothing was tuned on this set.
FRESH: list[tuple[str, int | None]] = [
    ("笔记本连不上无线\n\n公司wifi显示已连接但是没有网络，别的同事都可以", 10),
    ("打印机又卡纸了\n\n2楼东侧那台HP一直卡纸，取出来还报错", 13),
    ("teams听不到声音\n\n开会时对方听不到我讲话，麦克风显示正常", 24),
    ("邮件附件太大发不出去\n\n要发一个50M的设计稿给客户，被退信了", 8),
    ("装软件要管理员密码\n\n想装个 Notepad++，提示需要管理员权限", 25),
    (
        "CRM report export fails\n\nExporting the opportunities report from CRM times out with 504",
        29,
    ),
    (
        "Suspicious mail from CEO\n\nGot an email from our 'CEO' asking me to buy gift cards, phishing?",
        31,
    ),
    ("Screen flickering\n\nMy external monitor keeps flickering and the resolution is wrong", 32),
    ("忘了密码怎么办\n\n电脑密码忘了，进不去系统", 3),
    ("OA审批提交失败\n\n采购审批单点提交提示流程提交失败，审批人上个月离职了", 27),
    ("想换个工位\n\n可以把我的工位换到靠窗的位置吗", None),
    ("发票抬头怎么开\n\n报销的发票抬头应该写公司全称还是简称", None),
    ("申请一个新邮箱账号\n\n新同事下周入职，需要开通邮箱", None),
    ("电话分机号查询\n\n财务部的分机号是多少", None),
    ("培训报名\n\n下周的 Excel 培训在哪里报名", None),
    ("Request a second laptop charger\n\nCan I get a spare charger for my laptop?", None),
    (
        "Office Wi-Fi name\n\nWhat is the name of the office network for guests? we have 2 visitors",
        12,
    ),
    ("Printer toner low\n\nThe printer on floor 3 says toner low, who replaces it?", None),
    ("会议室电视怎么投屏\n\n会议室的电视怎么无线投屏？", None),
    ("VPN客户端下载\n\n新电脑上没有VPN客户端，在哪里下载？", None),
]
