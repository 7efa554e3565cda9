import DSDNCore

/// An experiment's report for people: a terminal table, and a self-contained HTML page with SVG charts
/// (no script, no network).
public enum ExperimentRendering {
    /// One chart's place on the HTML page, in CSS pixels from the page's top left.
    public struct ChartBox: Hashable, Sendable {
        /// The chart's element id.
        public var id: String
        /// Its title.
        public var title: String
        /// Its box.
        public var x: Int, y: Int, width: Int, height: Int
    }

    /// The page's width, in CSS pixels.
    public static let pageWidth = 960
    static let headerHeight = 96
    static let chartHeight = 300
    static let chartGap = 24

    /// The four charts, top to bottom, each at a fixed place so a screenshot can be checked.
    public static let charts: [ChartBox] = [
        ("utilization", "Node utilization at the end (nodes per 5 % bucket)"),
        ("fill-over-history", "Fill standard deviation along the history"),
        ("zone-balance", "Zone utilization at the end"),
        ("repair-traffic", "Bytes placed by repairs (cumulative)"),
    ].enumerated().map { index, chart in
        ChartBox(
            id: chart.0, title: chart.1, x: 20, y: headerHeight + index * (chartHeight + chartGap), width: pageWidth - 40,
            height: chartHeight)
    }

    /// The colour of arm `index` (recorded, random, then the policies).
    public static func color(ofArm index: Int) -> String {
        let palette = ["#444444", "#999999", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
        return palette[index % palette.count]
    }

    // MARK: Terminal

    /// The table `experiment` prints.
    public static func table(_ report: ExperimentReport, timings: ExperimentTimings, explained: Int = 3) -> String {
        var lines: [String] = []
        let history = report.history
        let prefix = history.from > 1 ? " (1…\(history.from - 1) as recorded)" : ""
        lines.append(
            "history    \(history.source): heights \(history.from)…\(history.to) decided\(prefix), \(history.events) events, \(history.recordedPlacements) recorded placements"
        )
        if !report.whatIf.isEmpty { lines.append("what-if    \(report.whatIf.joined(separator: ", "))") }
        lines.append("")
        let arms = report.arms
        // lookup only
        let speed: [String: ExperimentTimings.Arm] = Dictionary(timings.arms.map { ($0.label, $0) }, uniquingKeysWith: { a, _ in a })
        var rows: [(String, [String])] = [("", arms.map(\.label))]
        func row(_ title: String, _ value: (ArmReport) -> String) { rows.append((title, arms.map(value))) }
        row("fill stddev") { fixed($0.fill.fillStddev, 4) }
        row("  vs random") { $0.fillStddevVsRandom.map { fixed($0, 2) } ?? "-" }
        row("max/mean utilization") { fixed($0.fill.maxOverMean, 2) }
        row("  vs random") { $0.maxOverMeanVsRandom.map { fixed($0, 2) } ?? "-" }
        row("mean utilization") { percent($0.fill.meanUtilization) }
        row("max utilization") { percent($0.fill.maxUtilization) }
        row("under-replicated") { "\($0.underReplicated)" }
        row("zone-spread violations") { "\($0.zoneSpreadViolations)" }
        row("decisions") { "\($0.decisions.decisions)" }
        row("unplaceable") { $0.kind == "recorded" ? "-" : "\($0.decisions.unplaceable)" }
        row("failed") { $0.kind == "recorded" ? "-" : "\($0.decisions.failed)" }
        row("replicas placed") { "\($0.decisions.replicasPlaced)" }
        row("bytes placed") { bytes($0.decisions.bytesPlaced) }
        row("repairs") { "\($0.decisions.repairs)" }
        row("repair bytes") { bytes($0.decisions.repairBytes) }
        row("differs from recorded") { $0.kind == "recorded" ? "-" : "\($0.differsFromRecorded)" }
        row("instructions") { $0.kind == "policy" ? "\($0.instructions)" : "-" }
        row("peak memory") { $0.kind == "policy" ? bytes($0.peakMemoryBytes) : "-" }
        row("decisions/s (varies)") { arm in speed[arm.label].map { fixed($0.decisionsPerSecond, 0) } ?? "-" }
        row("p50/p99 ms (varies)") { arm in speed[arm.label].map { "\(fixed($0.p50Ms, 3))/\(fixed($0.p99Ms, 3))" } ?? "-" }
        let titleWidth = rows.map(\.0.count).max() ?? 0
        let widths = arms.indices.map { column in max(10, rows.map { $0.1[column].count }.max() ?? 0) }
        for (title, cells) in rows {
            var line = title.padding(to: titleWidth)
            for (cell, width) in zip(cells, widths) { line += "  " + cell.padding(to: width) }
            lines.append(line.trimmingTrailingSpaces)
        }
        if !report.pairs.isEmpty { lines.append("") }
        for pair in report.pairs {
            lines.append(
                "pair       \(pair.a) vs \(pair.b): \(pair.decisionsCompared) decisions compared, \(pair.disagreements) disagree; \(pair.chunksPlacedDifferently) chunks placed differently at the end"
            )
        }
        for item in report.disagreements.prefix(explained) {
            lines.append("")
            lines.append("disagree   height \(item.height) chunk \(item.chunk.prefix(16))… want \(item.want)")
            lines.append(
                "  \(item.a) chose [\(item.aChose.joined(separator: ", "))]; \(item.b) chose [\(item.bChose.joined(separator: ", "))]")
            for (one, other) in zip(item.aExplanation, item.bExplanation) {
                lines.append("  \(one.node): \(item.a) \(describe(one)) | \(item.b) \(describe(other))")
            }
        }
        if report.disagreements.count > explained {
            lines.append("")
            lines.append("(\(report.disagreements.count - explained) more explained disagreements in report.json and report.html)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func describe(_ explanation: NodeExplanation) -> String {
        switch explanation.verdict {
        case "excluded": return "excluded (\(explanation.reason ?? ""))"
        default:
            var text = explanation.verdict
            if let rank = explanation.rank { text += " rank \(rank)" }
            if let score = explanation.score { text += " score \(fixed(score, 4))" }
            if !explanation.terms.isEmpty {
                text += " [\(explanation.terms.map { "\($0.name)=\(fixed($0.value, 3))" }.joined(separator: " "))]"
            }
            return text
        }
    }

    // MARK: HTML

    /// The self-contained page: the four charts at fixed places, then the table, the pairs and the
    /// disagreements.
    public static func html(_ report: ExperimentReport, timings: ExperimentTimings) -> String {
        var page = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>DSDN experiment</title>
            <style>
            body{margin:0;font:13px/1.4 sans-serif;color:#222;background:#fff;width:\(pageWidth)px}
            header{position:absolute;left:20px;top:0;width:\(pageWidth - 40)px;height:\(headerHeight)px;overflow:hidden}
            h1{font-size:18px;margin:12px 0 4px}
            .chart{position:absolute;left:20px}
            .rest{position:absolute;left:20px;width:\(pageWidth - 40)px;top:\(headerHeight + charts.count * (chartHeight + chartGap))px}
            table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
            td:first-child,th:first-child{text-align:left}pre{white-space:pre-wrap}
            </style></head><body>
            <header><h1>Policy experiment</h1><div>\(escape(report.history.source)): heights \(report.history.from)…\(report.history.to), \
            \(report.history.events) events; seed \(report.seed)\(report.whatIf.isEmpty ? "" : "; what-if " + escape(report.whatIf.joined(separator: ", ")))</div>
            <div>\(legend(report.arms))</div></header>

            """
        page += chart(charts[0], svg: utilizationChart(report, box: charts[0]))
        page += chart(charts[1], svg: seriesChart(report, box: charts[1]) { $0.fill.fillStddev })
        page += chart(charts[2], svg: zoneChart(report, box: charts[2]))
        page += chart(charts[3], svg: seriesChart(report, box: charts[3]) { Double($0.repairBytes) })
        page +=
            "<div class=\"rest\"><h2>Figures</h2><pre>\(escape(table(report, timings: timings, explained: report.disagreements.count)))</pre></div>\n</body></html>\n"
        return page
    }

    private static func legend(_ arms: [ArmReport]) -> String {
        arms.enumerated().map { index, arm in
            "<span style=\"color:\(color(ofArm: index))\">&#9632;</span> \(escape(arm.label))"
        }.joined(separator: " &nbsp; ")
    }

    private static func chart(_ box: ChartBox, svg: String) -> String {
        """
        <div class="chart" style="top:\(box.y)px"><svg id="\(box.id)" xmlns="http://www.w3.org/2000/svg" \
        width="\(box.width)" height="\(box.height)" viewBox="0 0 \(box.width) \(box.height)">\
        <rect x="0" y="0" width="\(box.width)" height="\(box.height)" fill="#ffffff" stroke="#cccccc"/>\
        <text x="10" y="18" font-size="13" font-weight="bold">\(escape(box.title))</text>\(svg)</svg></div>

        """
    }

    /// The plot area inside a chart: left, top, width, height.
    private static func plot(_ box: ChartBox) -> (x: Double, y: Double, width: Double, height: Double) {
        (60, 30, Double(box.width) - 80, Double(box.height) - 60)
    }

    private static func axes(_ box: ChartBox, maximum: Double, format: (Double) -> String, xLabels: [(Double, String)]) -> String {
        let area = plot(box)
        var svg =
            "<line x1=\"\(area.x)\" y1=\"\(area.y + area.height)\" x2=\"\(area.x + area.width)\" y2=\"\(area.y + area.height)\" stroke=\"#333\"/>"
        svg += "<line x1=\"\(area.x)\" y1=\"\(area.y)\" x2=\"\(area.x)\" y2=\"\(area.y + area.height)\" stroke=\"#333\"/>"
        for step in 0...2 {
            let value = maximum * Double(step) / 2
            let y = area.y + area.height - area.height * Double(step) / 2
            svg += "<text x=\"\(area.x - 4)\" y=\"\(fixed(y + 4, 1))\" font-size=\"11\" text-anchor=\"end\">\(escape(format(value)))</text>"
        }
        for (x, label) in xLabels {
            svg +=
                "<text x=\"\(fixed(x, 1))\" y=\"\(area.y + area.height + 16)\" font-size=\"11\" text-anchor=\"middle\">\(escape(label))</text>"
        }
        return svg
    }

    private static func utilizationChart(_ report: ExperimentReport, box: ChartBox) -> String {
        let area = plot(box)
        let buckets = 20
        let maximum = Double(max(1, report.arms.flatMap(\.utilizationHistogram).max() ?? 1))
        let groupWidth = area.width / Double(buckets)
        let barWidth = max(1, (groupWidth - 2) / Double(max(1, report.arms.count)))
        var svg = axes(
            box, maximum: maximum, format: { fixed($0, 0) },
            xLabels: stride(from: 0, through: buckets, by: 4).map { (area.x + groupWidth * Double($0), "\($0 * 5)%") })
        for (index, arm) in report.arms.enumerated() {
            for (bucket, count) in arm.utilizationHistogram.enumerated() where count > 0 {
                let height = max(2, area.height * Double(count) / maximum)
                let x = area.x + groupWidth * Double(bucket) + 1 + barWidth * Double(index)
                svg +=
                    "<rect x=\"\(fixed(x, 1))\" y=\"\(fixed(area.y + area.height - height, 1))\" width=\"\(fixed(barWidth, 1))\" height=\"\(fixed(height, 1))\" fill=\"\(color(ofArm: index))\"/>"
            }
        }
        return svg
    }

    private static func seriesChart(_ report: ExperimentReport, box: ChartBox, value: (ArmSample) -> Double) -> String {
        let area = plot(box)
        let samples = report.arms.map(\.samples)
        let first = Double(report.history.from)
        let last = Double(max(report.history.to, report.history.from + 1))
        let maximum = max(samples.flatMap { $0.map(value) }.max() ?? 0, 1e-9)
        let isBytes = box.id == "repair-traffic"
        var svg = axes(
            box, maximum: maximum, format: { isBytes ? bytes(UInt64($0)) : fixed($0, 3) },
            xLabels: [(area.x, "height \(report.history.from)"), (area.x + area.width, "\(report.history.to)")])
        for (index, series) in samples.enumerated() where !series.isEmpty {
            let points = series.map { sample in
                let x = area.x + area.width * (Double(sample.height) - first) / (last - first)
                let y = area.y + area.height - area.height * value(sample) / maximum
                return "\(fixed(x, 1)),\(fixed(y, 1))"
            }
            let path = points.count == 1 ? points + [points[0]] : points
            svg +=
                "<polyline points=\"\(path.joined(separator: " "))\" fill=\"none\" stroke=\"\(color(ofArm: index))\" stroke-width=\"\(index < 2 ? 2 : 3)\"/>"
            for point in points {
                let xy = point.split(separator: ",")
                svg += "<circle cx=\"\(xy[0])\" cy=\"\(xy[1])\" r=\"2.5\" fill=\"\(color(ofArm: index))\"/>"
            }
        }
        return svg
    }

    private static func zoneChart(_ report: ExperimentReport, box: ChartBox) -> String {
        let area = plot(box)
        var zones: [String] = []
        for arm in report.arms { for zone in arm.zones where !zones.contains(zone.zone) { zones.append(zone.zone) } }
        zones.sort { utf8Precedes($0, $1) }
        let shown = Array(zones.prefix(40))
        let groupWidth = area.width / Double(max(1, shown.count))
        let barWidth = max(1, (groupWidth - 4) / Double(max(1, report.arms.count)))
        let maximum = max(report.arms.flatMap { $0.zones.map(\.utilization) }.max() ?? 0, 1e-9)
        let labelEvery = max(1, shown.count / 10)
        var svg = axes(
            box, maximum: maximum, format: { percent($0) },
            xLabels: shown.enumerated().filter { $0.offset % labelEvery == 0 }.map {
                (area.x + groupWidth * (Double($0.offset) + 0.5), $0.element)
            })
        for (index, arm) in report.arms.enumerated() {
            var byZone: [String: Double] = [:]  // lookup only
            for zone in arm.zones { byZone[zone.zone] = zone.utilization }
            for (position, zone) in shown.enumerated() {
                let height = max(2, area.height * (byZone[zone] ?? 0) / maximum)
                let x = area.x + groupWidth * Double(position) + 2 + barWidth * Double(index)
                svg +=
                    "<rect x=\"\(fixed(x, 1))\" y=\"\(fixed(area.y + area.height - height, 1))\" width=\"\(fixed(barWidth, 1))\" height=\"\(fixed(height, 1))\" fill=\"\(color(ofArm: index))\"/>"
            }
        }
        return svg
    }

    // MARK: Formatting (no locale, the same digits everywhere)

    /// `value` with `digits` decimals.
    static func fixed(_ value: Double, _ digits: Int) -> String {
        guard value.isFinite else { return "-" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9e15 else { return "\(value)" }
        let whole = Int64(scaled)
        let sign = value < 0 && whole != 0 ? "-" : ""
        guard digits > 0 else { return sign + "\(whole)" }
        let power = Int64(scale)
        let fraction = String(whole % power)
        return sign + "\(whole / power)." + String(repeating: "0", count: digits - fraction.count) + fraction
    }

    static func percent(_ value: Double) -> String { fixed(value * 100, 1) + "%" }

    static func bytes(_ value: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var amount = Double(value)
        var unit = 0
        while amount >= 1024 && unit < units.count - 1 {
            amount /= 1024
            unit += 1
        }
        return unit == 0 ? "\(value) B" : fixed(amount, 1) + " " + units[unit]
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }
}

extension String {
    fileprivate func padding(to width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
    fileprivate var trimmingTrailingSpaces: String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
