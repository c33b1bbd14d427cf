package schema

// Tender types (Tender.Type).
const (
	TenderCash        = "cash"
	TenderCard        = "card"
	TenderGiftCard    = "gift_card"
	TenderStoreCredit = "store_credit"
	TenderOther       = "other"
)

// TxnTypes returns every POS transaction type.
func TxnTypes() []TxnType { return []TxnType{TxnSale, TxnReturn, TxnVoid} }

// TenderTypes returns every tender type.
func TenderTypes() []string {
	return []string{TenderCash, TenderCard, TenderGiftCard, TenderStoreCredit, TenderOther}
}

// SnapshotKinds returns every inventory snapshot kind.
func SnapshotKinds() []SnapshotKind { return []SnapshotKind{SnapshotFull, SnapshotPartial} }

// POStatuses returns every purchase order line status.
func POStatuses() []POStatus {
	return []POStatus{POOpen, POPartiallyReceived, POReceived, POCancelled}
}

// PromotionStatuses returns every promotion status.
func PromotionStatuses() []PromotionStatus {
	return []PromotionStatus{PromotionPlanned, PromotionCancelled}
}

// Currencies returns every currency code IsCurrency accepts, sorted.
func Currencies() []string {
	out := make([]string, 0, (len(currencyCodes)+1)/4)
	for i := 0; i+3 <= len(currencyCodes); i += 4 {
		out = append(out, currencyCodes[i:i+3])
	}
	return out
}
