"""Product annotation writer (``annotation/s1a-iw?-slc-??-...xml``), structured like IPF 3.9.

Every value that describes the scene (times, orbit, geometry, Doppler, FM rate, bursts, grid,
statistics) comes from :class:`AnnotationData`; instrument bookkeeping fields that the simulator
does not model (downlink error counters, replica quality, ...) get fixed nominal values.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
from lxml import etree

from . import _constants as C
from ._layout import time_str
from ._xml import array, boolean, d15, f6, int_array, sub, sub_array, sub_list


@dataclasses.dataclass
class BurstRecord:
    sod: float  # zero-Doppler time of the first line, s of day
    anx_time: float  # s since ascending node
    sensing_sod: float
    byte_offset: int
    first_valid: np.ndarray  # (lines,) int
    last_valid: np.ndarray
    burst_id: int  # relative (per track) ESA burst id
    burst_id_absolute: int


@dataclasses.dataclass
class DcEstimate:
    sod: float
    t0: float
    geometry_poly: np.ndarray  # (3,) Hz, Hz/s, Hz/s²
    data_poly: np.ndarray  # (3,)
    rms_error: float
    fine_start_sod: float
    fine_stop_sod: float
    fine_tau: np.ndarray  # (n,) s
    fine_freq: np.ndarray  # (n,) Hz


@dataclasses.dataclass
class AnnotationData:
    """Everything the product annotation of one date needs (times in seconds of day)."""

    mission: str
    swath: str
    polarization: str
    date: dt.date
    start_sod: float
    stop_sod: float
    absolute_orbit: int
    datatake: int
    image_number: int
    platform_heading: float  # deg
    steering_rate_deg: float
    range_bandwidth: float
    azimuth_bandwidth: float
    orbit_sod: np.ndarray  # (n,)
    orbit_pos: np.ndarray  # (n, 3)
    orbit_vel: np.ndarray  # (n, 3)
    anx_sod: float
    datatake_start_sod: float
    terrain_sod: np.ndarray
    terrain_height: np.ndarray
    fm_sod: np.ndarray  # (m,)
    fm_t0: float
    fm_poly: np.ndarray  # (m, 3)
    dc: list[DcEstimate]
    slant_range_time: float
    azimuth_pixel_spacing: float
    samples: int
    lines_per_burst: int
    incidence_mid: float
    stats: tuple[float, float, float, float]  # mean re, mean im, std re, std im
    bursts: list[BurstRecord]
    antenna_tau: np.ndarray  # (k,)
    antenna_elevation: np.ndarray  # (bursts, k) deg
    antenna_incidence: np.ndarray  # (bursts, k) deg
    antenna_pattern: np.ndarray  # (k,) complex
    antenna_roll: np.ndarray  # (bursts,) deg
    grid: dict[str, np.ndarray]  # azimuth_sod, tau, line, pixel, lat, lon, height, incidence, elevation
    mean_height: float
    downlink_swst: float = 1.520725253673810e-04
    downlink_swl: float = 4.423903790689140e-04

    def t(self, sod: float) -> str:
        return time_str(self.date, sod)

    @property
    def lines(self) -> int:
        return self.lines_per_burst * len(self.bursts)


def ads_header(root: etree._Element, a: AnnotationData) -> None:
    """The adsHeader shared by annotation, calibration and noise files."""
    h = sub(root, "adsHeader")
    sub(h, "missionId", a.mission)
    sub(h, "productType", "SLC")
    sub(h, "polarisation", a.polarization)
    sub(h, "mode", "IW")
    sub(h, "swath", a.swath)
    sub(h, "startTime", a.t(a.start_sod))
    sub(h, "stopTime", a.t(a.stop_sod))
    sub(h, "absoluteOrbitNumber", a.absolute_orbit)
    sub(h, "missionDataTakeId", a.datatake)
    sub(h, "imageNumber", f"{a.image_number:03d}")


def _statistics(parent: etree._Element, a: AnnotationData) -> None:
    s = sub(parent, "imageStatistics")
    mean = sub(s, "outputDataMean")
    sub(mean, "re", f6(a.stats[0]))
    sub(mean, "im", f6(a.stats[1]))
    std = sub(s, "outputDataStdDev")
    sub(std, "re", f6(a.stats[2]))
    sub(std, "im", f6(a.stats[3]))


def _quality(root: etree._Element, a: AnnotationData) -> None:
    q = sub(root, "qualityInformation")
    sub(q, "productQualityIndex", d15(0.0))
    lst = sub_list(q, "qualityDataList", 1)
    qd = sub(lst, "qualityData")
    sub(qd, "azimuthTime", a.t(a.start_sod))
    dq = sub(qd, "downlinkQuality")
    for name, value in [
        ("iInputDataMean", d15(0.0)), ("qInputDataMean", d15(0.0)),
        ("inputDataMeanOutsideNominalRangeFlag", "false"),
        ("iInputDataStdDev", d15(5.9)), ("qInputDataStdDev", d15(5.9)),
        ("inputDataStDevOutsideNominalRangeFlag", "false"),
        ("numDownlinkInputDataGaps", 0), ("downlinkGapsInInputDataSignificantFlag", "false"),
        ("numDownlinkInputMissingLines", 0), ("downlinkMissingLinesSignificantFlag", "false"),
        ("numInstrumentInputDataGaps", 0), ("instrumentGapsInInputDataSignificantFlag", "false"),
        ("numInstrumentInputMissingLines", 0), ("instrumentMissingLinesSignificantFlag", "false"),
        ("numSsbErrorInputDataGaps", 0), ("ssbErrorGapsInInputDataSignificantFlag", "false"),
        ("numSsbErrorInputMissingLines", 0), ("ssbErrorMissingLinesSignificantFlag", "false"),
        ("chirpSourceUsed", "Nominal"), ("pgSourceUsed", "Extracted"),
        ("rrfSpectrumUsed", "Extended Tapered"), ("replicaReconstructionFailedFlag", "false"),
        ("meanPgProductAmplitude", d15(0.662)), ("stdDevPgProductAmplitude", d15(3.8e-3)),
        ("meanPgProductPhase", d15(-1.476)), ("stdDevPgProductPhase", d15(1.7e-2)),
        ("pgProductDerivationFailedFlag", "false"), ("invalidDownlinkParamsFlag", "false"),
    ]:
        sub(dq, name, value)
    rq = sub(qd, "rawDataAnalysisQuality")
    for name, value in [("iBias", 0.0), ("iBiasSignificanceFlag", False), ("qBias", 0.0),
                        ("qBiasSignificanceFlag", False), ("iqGainImbalance", 1.0),
                        ("iqGainSignificanceFlag", False), ("iqQuadratureDeparture", 0.0),
                        ("iqQuadratureDepartureSignificanceFlag", False)]:
        sub(rq, name, boolean(value) if isinstance(value, bool) else d15(value))
    dcq = sub(qd, "dopplerCentroidQuality")
    sub(dcq, "dcMethod", "Data Analysis")
    sub(dcq, "dopplerCentroidUncertainFlag", "false")
    iq = sub(qd, "imageQuality")
    _statistics(iq, a)
    sub(iq, "outputDataMeanOutsideNominalRangeFlag", "false")
    sub(iq, "outputDataStDevOutsideNominalRangeFlag", "false")


_BIT_ERROR_COUNTERS = (
    "numErrSyncMarker numErrDataTakeId numErrEccNumber numErrTestMode numErrRxChannelId "
    "numErrInstrumentConfigId numErrPacketCount numErrPriCount numErrSsbErrorFlag numErrBaqMode "
    "numErrBaqBlockLength numErrRangeDecimation numErrRxGain numErrTxRampRate "
    "numErrTxPulseStartFrequency numErrRank numErrPri numErrSwst numErrSwl numErrPolarisation "
    "numErrTempComp numErrElevationBeamAddress numErrAzimuthBeamAddress numErrSasTestMode "
    "numErrCalType numErrCalibrationBeamAddress numErrCalMode numErrTxPulseNumber "
    "numErrSignalType numErrSwapFlag numErrSwathNumber numErrNumberOfQuads numIspHeaderErrors"
).split()


def _downlink(ga: etree._Element, a: AnnotationData) -> None:
    lst = sub_list(ga, "downlinkInformationList", 1)
    di = sub(lst, "downlinkInformation")
    sub(di, "swath", a.swath)
    first_input = a.start_sod - 2.76
    sub(di, "azimuthTime", a.t(first_input))
    sub(di, "firstLineSensingTime", a.t(a.datatake_start_sod))
    sub(di, "lastLineSensingTime", a.t(a.datatake_start_sod + 30.55))
    sub(di, "prf", d15(C.PRF_RAW))
    bec = sub(di, "bitErrorCount")
    for name in _BIT_ERROR_COUNTERS:
        sub(bec, name, 0)
    dv = sub(di, "downlinkValues")
    sub(dv, "pri", d15(1.0 / C.PRF_RAW))
    sub(dv, "rank", 8)
    sub(dv, "dataTakeId", a.datatake % 65536)
    sub(dv, "eccNumber", 8)
    sub(dv, "rxChannelId", 0)
    sub(dv, "instrumentConfigId", 7)
    fmt = sub(dv, "dataFormat")
    sub(fmt, "baqBlockLength", 256)
    sub(fmt, "echoFormat", "FDBAQ")
    sub(fmt, "noiseFormat", "BAQ 5 Bit")
    sub(fmt, "calibrationFormat", "Decimation")
    sub(fmt, "meanBitRate", d15(0.5438))
    dec = sub(dv, "rangeDecimation")
    sub(dec, "decimationFilterBandwidth", d15(a.range_bandwidth + 0.05e6))
    sub(dec, "samplingFrequencyAfterDecimation", d15(C.RANGE_SAMPLING_RATE * 0.8485))
    sub(dec, "filterLength", 44)
    sub(dv, "rxGain", d15(-4.0))
    sub(dv, "txPulseLength", d15(6.199592966536363e-05))
    sub(dv, "txPulseStartFrequency", d15(-a.range_bandwidth / 2))
    sub(dv, "txPulseRampRate", d15(a.range_bandwidth / 6.199592966536363e-05))
    sub(dv, "swathNumber", C.SWATHS[a.swath].swath_number)
    swl = sub_list(dv, "swlList", 1)
    e = sub(swl, "swl")
    sub(e, "azimuthTime", a.t(first_input))
    sub(e, "value", d15(a.downlink_swl))
    swst = sub_list(dv, "swstList", 1)
    e = sub(swst, "swst")
    sub(e, "azimuthTime", a.t(first_input))
    sub(e, "value", d15(a.downlink_swst))
    ps = sub_list(dv, "pointingStatusList", 1)
    e = sub(ps, "pointingStatus")
    sub(e, "azimuthTime", a.t(a.datatake_start_sod))
    sub(e, "aocsOpMode", "Normal Pointing Mode")
    for flag in ("rollErrorFlag", "pitchErrorFlag", "yawErrorFlag"):
        sub(e, flag, "false")


def _orbit_attitude(ga: etree._Element, a: AnnotationData) -> None:
    lst = sub_list(ga, "orbitList", len(a.orbit_sod))
    for t, p, v in zip(a.orbit_sod, a.orbit_pos, a.orbit_vel, strict=True):
        o = sub(lst, "orbit")
        sub(o, "time", a.t(t))
        sub(o, "frame", "Earth Fixed")
        pos = sub(o, "position")
        vel = sub(o, "velocity")
        for i, c in enumerate("xyz"):
            sub(pos, c, d15(p[i]))
        for i, c in enumerate("xyz"):
            sub(vel, c, d15(v[i]))
    # attitude: a slowly rotating unit quaternion, 1 Hz, as the downlinked AOCS data
    times = np.arange(np.ceil(a.start_sod - 1), a.stop_sod + 2, 1.0)
    lst = sub_list(ga, "attitudeList", len(times))
    for i, t in enumerate(times):
        ang = 0.37 + 1e-4 * i
        q = np.array([-np.cos(ang), 0.27, 0.07, 0.0])
        q[3] = np.sqrt(max(1 - np.sum(q[:3] ** 2), 0))
        at = sub(lst, "attitude")
        sub(at, "time", a.t(t))
        sub(at, "frame", "GM2000")
        for name, val in zip(("q0", "q1", "q2", "q3"), q, strict=True):
            sub(at, name, f6(val))
        for name, val in (("wx", 5.6e-5), ("wy", -9.46e-4), ("wz", -4.82e-4)):
            sub(at, name, d15(val))
        for name, val in (("roll", 43.78 - 5e-3 * i), ("pitch", -36.29), ("yaw", -5.88)):
            sub(at, name, d15(val))


def _raw_and_replica(ga: etree._Element, a: AnnotationData) -> None:
    lst = sub_list(ga, "rawDataAnalysisList", 1)
    r = sub(lst, "rawDataAnalysis")
    sub(r, "azimuthTime", a.t(a.start_sod - 2.76))
    for name, val in (("iBias", 0.0), ("qBias", 0.0), ("iqQuadratureDeparture", 0.0),
                      ("iqGainImbalance", 1.0)):
        sub(r, name, d15(val))
    s = sub(r, "support")
    for name, val in (("iBiasUpperBound", 9e-3), ("iBiasLowerBound", -9e-3),
                      ("qBiasUpperBound", 9e-3), ("qBiasLowerBound", -9e-3),
                      ("iqGainUpperBound", 1.001), ("iqGainLowerBound", 0.999),
                      ("iqQuadratureDepartureUpperBound", 0.96),
                      ("iqQuadratureDepartureLowerBound", -0.90),
                      ("iBiasUsedForCorrection", 0.0), ("qBiasUsedForCorrection", 0.0),
                      ("iqGainImbalanceUsedForCorrection", 1.0),
                      ("iqQuadratureDepartureUsedForCorrection", 0.0)):
        sub(s, name, d15(val))
    lst = sub_list(ga, "replicaInformationList", 1)
    ri = sub(lst, "replicaInformation")
    sub(ri, "swath", a.swath)
    ref = sub(ri, "referenceReplica")
    sub(ref, "azimuthTime", a.t(a.start_sod - 2.5))
    sub(ref, "chirpSource", "Nominal")
    sub(ref, "pgSource", "Extracted")
    sub(ref, "amplitudeCoefficients", array([1, 0, 0, 0]), count=4)
    sub(ref, "phaseCoefficients", array([0, 1.109673e03, 3.896409e11, 0]), count=4)
    sub(ref, "timeDelay", f6(4.366372e-07))
    gain = sub(ref, "gain")
    sub(gain, "re", f6(1.0))
    sub(gain, "im", f6(0.0))
    replicas = sub_list(ri, "replicaList", 1)
    rep = sub(replicas, "replica")
    sub(rep, "azimuthTime", a.t(a.start_sod - 22.0))
    for name, val in (("crossCorrelationBandwidth", 0.985), ("crossCorrelationPslr", -12.7),
                      ("crossCorrelationIslr", -9.55), ("crossCorrelationPeakLocation", 0.0)):
        sub(rep, name, f6(val))
    sub(rep, "reconstructedReplicaValidFlag", "true")
    for name, val in (("pgProductAmplitude", 9.36e-4), ("pgProductPhase", -1.47),
                      ("modelPgProductAmplitude", 0.6607), ("modelPgProductPhase", 0.0)):
        sub(rep, name, f6(val))
    sub(rep, "relativePgProductValidFlag", "true")
    sub(rep, "absolutePgProductValidFlag", "true")
    sub(rep, "internalTimeDelay", f6(4.366415e-07))


def _general(root: etree._Element, a: AnnotationData) -> None:
    ga = sub(root, "generalAnnotation")
    pi = sub(ga, "productInformation")
    sub(pi, "pass", "Ascending")
    sub(pi, "timelinessCategory", "Fast-24h")
    sub(pi, "platformHeading", d15(a.platform_heading))
    sub(pi, "projection", "Slant Range")
    sub(pi, "rangeSamplingRate", d15(C.RANGE_SAMPLING_RATE))
    sub(pi, "radarFrequency", d15(C.RADAR_FREQUENCY))
    sub(pi, "azimuthSteeringRate", d15(a.steering_rate_deg))
    _downlink(ga, a)
    _orbit_attitude(ga, a)
    _raw_and_replica(ga, a)
    # noise measurements of the datatake (IPF "noiseList"): one per burst cycle
    noise_times = a.datatake_start_sod + np.arange(0, 30.0, C.BURST_ID_T_BEAM)
    lst = sub_list(ga, "noiseList", len(noise_times))
    for t in noise_times:
        n = sub(lst, "noise")
        sub(n, "swath", a.swath)
        sub(n, "azimuthTime", a.t(t))
        sub(n, "noisePowerCorrectionFactor", f6(4.55))
        sub(n, "numberOfNoiseLines", 8)
    lst = sub_list(ga, "terrainHeightList", len(a.terrain_sod))
    for t, h in zip(a.terrain_sod, a.terrain_height, strict=True):
        th = sub(lst, "terrainHeight")
        sub(th, "azimuthTime", a.t(t))
        sub(th, "value", d15(h))
    lst = sub_list(ga, "azimuthFmRateList", len(a.fm_sod))
    for t, poly in zip(a.fm_sod, a.fm_poly, strict=True):
        fm = sub(lst, "azimuthFmRate")
        sub(fm, "azimuthTime", a.t(t))
        sub(fm, "t0", d15(a.fm_t0))
        sub(fm, "azimuthFmRatePolynomial", array(poly, d15), count=3)


def _image(root: etree._Element, a: AnnotationData) -> None:
    ia = sub(root, "imageAnnotation")
    ii = sub(ia, "imageInformation")
    first = a.bursts[0].sod
    last = a.bursts[-1].sod + (a.lines_per_burst - 1) * C.AZIMUTH_TIME_INTERVAL
    sub(ii, "productFirstLineUtcTime", a.t(first))
    sub(ii, "productLastLineUtcTime", a.t(last))
    sub(ii, "ascendingNodeTime", a.t(a.anx_sod))
    sub(ii, "anchorTime", a.t(a.datatake_start_sod))
    sub(ii, "productComposition", "Slice")
    sub(ii, "sliceNumber", 12)
    slices = sub_list(ii, "sliceList", 1)
    sl = sub(slices, "slice")
    sub(sl, "sliceNumber", 12)
    sub(sl, "sensingStartTime", a.t(a.start_sod - 2.6))
    sub(sl, "sensingStopTime", a.t(a.stop_sod + 2.6))
    sub(ii, "slantRangeTime", d15(a.slant_range_time))
    sub(ii, "pixelValue", "Complex")
    sub(ii, "outputPixels", "16 bit Signed Integer")
    sub(ii, "rangePixelSpacing", f6(C.RANGE_PIXEL_SPACING))
    sub(ii, "azimuthPixelSpacing", f6(a.azimuth_pixel_spacing))
    sub(ii, "azimuthTimeInterval", d15(C.AZIMUTH_TIME_INTERVAL))
    sub(ii, "azimuthFrequency", d15(1.0 / C.AZIMUTH_TIME_INTERVAL))
    sub(ii, "numberOfSamples", a.samples)
    sub(ii, "numberOfLines", a.lines)
    sub(ii, "zeroDopMinusAcqTime", d15(first - a.datatake_start_sod))
    sub(ii, "incidenceAngleMidSwath", d15(a.incidence_mid))
    _statistics(ii, a)

    pr = sub(ia, "processingInformation")
    for name, val in (("rawDataAnalysisUsed", "true"), ("orbitDataFileUsed", "true"),
                      ("attitudeDataFileUsed", "false"), ("rxVariationCorrectionApplied", "true"),
                      ("antennaElevationPatternApplied", "true"),
                      ("antennaAzimuthPatternApplied", "true"),
                      ("antennaAzimuthElementPatternApplied", "true"),
                      ("dcMethod", "Data Analysis"), ("dcInputData", "Range Compressed"),
                      ("rangeSpreadingLossCompensationApplied", "true"),
                      ("srgrConversionApplied", "false"), ("detectionPerformed", "false"),
                      ("thermalNoiseCorrectionPerformed", "false"),
                      ("rfiMitigationPerformed", "BasedOnNoiseMeas"),
                      ("rfiMitigationDomain", "TimeAndFrequency"), ("chirpSource", "Nominal"),
                      ("pgSource", "Extracted"), ("rrfSpectrum", "Extended Tapered"),
                      ("applicationLutId", "IW_Default")):
        sub(pr, name, val)
    lst = sub_list(pr, "swathProcParamsList", 1)
    sp = sub(lst, "swathProcParams")
    sub(sp, "swath", a.swath)
    for tag, bw in (("rangeProcessing", a.range_bandwidth), ("azimuthProcessing", a.azimuth_bandwidth)):
        p = sub(sp, tag)
        sub(p, "windowType", "Hamming")
        sub(p, "windowCoefficient", d15(C.WINDOW_COEFFICIENT))
        sub(p, "totalBandwidth", d15(bw * (1.0002 if tag == "rangeProcessing" else 1.0)))
        sub(p, "processingBandwidth", d15(bw))
        sub(p, "lookBandwidth", d15(bw))
        sub(p, "numberOfLooks", 1)
        sub(p, "lookOverlap", d15(0.0))
    sub(sp, "processorScalingFactor", f6(8.119112e11))
    lst = sub_list(pr, "inputDimensionsList", 1)
    ind = sub(lst, "inputDimensions")
    sub(ind, "azimuthTime", a.t(a.start_sod - 1.7))
    sub(ind, "swath", a.swath)
    sub(ind, "numberOfInputSamples", int(a.samples * 0.915))
    sub(ind, "numberOfInputLines", int(a.lines * 1.22))
    sub(pr, "referenceRange", d15(8.0e5))
    sub(pr, "ellipsoidName", "WGS84")
    sub(pr, "ellipsoidSemiMajorAxis", d15(C.WGS84_A))
    sub(pr, "ellipsoidSemiMinorAxis", d15(C.WGS84_B))
    sub(pr, "bistaticDelayCorrectionApplied", "true")
    sub(pr, "topsFilterConvention", "Only Echo Lines")
    sub(pr, "orbitSource", "Auxiliary")
    sub(pr, "attitudeSource", "Downlink")


def _doppler(root: etree._Element, a: AnnotationData) -> None:
    dc = sub(root, "dopplerCentroid")
    lst = sub_list(dc, "dcEstimateList", len(a.dc))
    for e in a.dc:
        el = sub(lst, "dcEstimate")
        sub(el, "azimuthTime", a.t(e.sod))
        sub(el, "t0", d15(e.t0))
        sub(el, "geometryDcPolynomial", array(e.geometry_poly, f6), count=3)
        sub(el, "dataDcPolynomial", array(e.data_poly, f6), count=3)
        sub(el, "dataDcRmsError", d15(e.rms_error))
        sub(el, "dataDcRmsErrorAboveThreshold", "false")
        sub(el, "fineDceAzimuthStartTime", a.t(e.fine_start_sod))
        sub(el, "fineDceAzimuthStopTime", a.t(e.fine_stop_sod))
        fl = sub_list(el, "fineDceList", len(e.fine_tau))
        for tau, f in zip(e.fine_tau, e.fine_freq, strict=True):
            fd = sub(fl, "fineDce")
            sub(fd, "slantRangeTime", d15(tau))
            sub(fd, "frequency", d15(f))


def _antenna(root: etree._Element, a: AnnotationData) -> None:
    ap = sub(root, "antennaPattern")
    lst = sub_list(ap, "antennaPatternList", len(a.bursts))
    pattern = np.column_stack([a.antenna_pattern.real, a.antenna_pattern.imag]).ravel()
    for b, burst in enumerate(a.bursts):
        el = sub(lst, "antennaPattern")
        sub(el, "swath", a.swath)
        sub(el, "azimuthTime", a.t(burst.sod))
        sub_array(el, "slantRangeTime", a.antenna_tau, d15)
        sub_array(el, "elevationAngle", a.antenna_elevation[b])
        sub(el, "elevationPattern", array(pattern), count=len(a.antenna_pattern))
        sub_array(el, "incidenceAngle", a.antenna_incidence[b])
        sub(el, "terrainHeight", d15(a.mean_height))
        sub(el, "roll", d15(a.antenna_roll[b]))


def _swath_timing(root: etree._Element, a: AnnotationData) -> None:
    st = sub(root, "swathTiming")
    sub(st, "linesPerBurst", a.lines_per_burst)
    sub(st, "samplesPerBurst", a.samples)
    lst = sub_list(st, "burstList", len(a.bursts))
    for b in a.bursts:
        el = sub(lst, "burst")
        sub(el, "azimuthTime", a.t(b.sod))
        sub(el, "azimuthAnxTime", d15(b.anx_time))
        sub(el, "sensingTime", a.t(b.sensing_sod))
        sub(el, "byteOffset", b.byte_offset)
        sub(el, "firstValidSample", int_array(b.first_valid), count=len(b.first_valid))
        sub(el, "lastValidSample", int_array(b.last_valid), count=len(b.last_valid))
        sub(el, "burstId", b.burst_id, absolute=b.burst_id_absolute)


def _geolocation(root: etree._Element, a: AnnotationData) -> None:
    gg = sub(root, "geolocationGrid")
    g = a.grid
    lst = sub_list(gg, "geolocationGridPointList", g["line"].size)
    for i in range(g["line"].size):
        p = sub(lst, "geolocationGridPoint")
        sub(p, "azimuthTime", a.t(g["azimuth_sod"].flat[i]))
        sub(p, "slantRangeTime", d15(g["tau"].flat[i]))
        sub(p, "line", int(g["line"].flat[i]))
        sub(p, "pixel", int(g["pixel"].flat[i]))
        for name in ("latitude", "longitude", "height", "incidenceAngle", "elevationAngle"):
            key = {"latitude": "lat", "longitude": "lon", "incidenceAngle": "incidence",
                   "elevationAngle": "elevation"}.get(name, name)
            sub(p, name, d15(g[key].flat[i]))


def build_annotation(a: AnnotationData) -> etree._Element:
    """The ``<product>`` element of the product annotation."""
    root = etree.Element("product")
    ads_header(root, a)
    _quality(root, a)
    _general(root, a)
    _image(root, a)
    _doppler(root, a)
    _antenna(root, a)
    _swath_timing(root, a)
    _geolocation(root, a)
    cc = sub(root, "coordinateConversion")
    sub_list(cc, "coordinateConversionList", 0)
    sm = sub(root, "swathMerging")
    sub_list(sm, "swathMergeList", 0)
    return root
